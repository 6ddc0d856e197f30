#include "workloads/training/adamw.h"

#include <cmath>
#include <map>

#include <ATen/ATen.h>

#include "collector/errors.h"

namespace moeprof::workloads::training {

AdamW::AdamW(std::vector<NamedParameter> parameters, AdamWSettings settings)
    : parameters_(std::move(parameters)), settings_(settings) {
  for (const auto& p : parameters_) {
    expAvg_.push_back(at::zeros_like(p.tensor));
    expAvgSq_.push_back(at::zeros_like(p.tensor));
  }
}

double AdamW::step(double lr) {
  at::NoGradGuard noGrad;
  double squares = 0;
  for (auto& p : parameters_) {
    if (p.tensor.grad().defined()) squares += p.tensor.grad().pow(2).sum().item<double>();
  }
  const double norm = std::sqrt(squares);
  const double scale =
      settings_.clipNorm > 0 && norm > settings_.clipNorm ? settings_.clipNorm / norm : 1.0;
  ++steps_;
  const double correction1 = 1 - std::pow(settings_.beta1, static_cast<double>(steps_));
  const double correction2 = 1 - std::pow(settings_.beta2, static_cast<double>(steps_));
  for (size_t i = 0; i < parameters_.size(); ++i) {
    at::Tensor& param = parameters_[i].tensor;
    at::Tensor grad = param.grad();
    if (!grad.defined()) grad = at::zeros_like(param);  // a parameter the loss did not reach
    if (scale != 1.0) grad = grad * scale;
    expAvg_[i].mul_(settings_.beta1).add_(grad, 1 - settings_.beta1);
    expAvgSq_[i].mul_(settings_.beta2).addcmul_(grad, grad, 1 - settings_.beta2);
    // Matrices decay; biases and layer norms (vectors) do not, as is usual for transformers.
    if (param.dim() >= 2) param.mul_(1 - lr * settings_.weightDecay);
    auto denominator = (expAvgSq_[i] / correction2).sqrt_().add_(settings_.eps);
    param.addcdiv_(expAvg_[i], denominator, -lr / correction1);
    param.mutable_grad().reset();
  }
  return norm;
}

std::vector<NamedParameter> AdamW::state() const {
  std::vector<NamedParameter> out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    out.push_back({"exp_avg." + parameters_[i].name, expAvg_[i]});
    out.push_back({"exp_avg_sq." + parameters_[i].name, expAvgSq_[i]});
  }
  return out;
}

void AdamW::restore(const std::vector<NamedParameter>& state, int64_t steps) {
  std::map<std::string, at::Tensor> byName;
  for (const auto& s : state) byName[s.name] = s.tensor;
  auto take = [&](const std::string& name, at::Tensor& into) {
    auto it = byName.find(name);
    if (it == byName.end() || !it->second.sizes().equals(into.sizes())) {
      throw InputError("optimizer state lacks '" + name + "' of shape " + c10::str(into.sizes()));
    }
    at::NoGradGuard noGrad;
    into.copy_(it->second);
  };
  for (size_t i = 0; i < parameters_.size(); ++i) {
    take("exp_avg." + parameters_[i].name, expAvg_[i]);
    take("exp_avg_sq." + parameters_[i].name, expAvgSq_[i]);
  }
  steps_ = steps;
}

}  // namespace moeprof::workloads::training
