#include "workloads/training/pregate_training.h"

#include <map>

#include <ATen/ATen.h>

#include "workloads/training/adamw.h"

namespace moeprof::workloads::training {

namespace {

// The traces of one forward pass by MoE layer id (training forwards call each layer once).
std::map<int64_t, const MoeLayerTrace*> byLayer(const std::vector<MoeLayerTrace>& traces) {
  std::map<int64_t, const MoeLayerTrace*> out;
  for (const auto& trace : traces) out[trace.moeLayerId] = &trace;
  return out;
}

std::vector<MoeLayerTrace> traceForward(const TrainableModel& model, const TokenBatch& batch) {
  at::NoGradGuard noGrad;
  std::vector<MoeLayerTrace> traces;
  ForwardContext context;
  context.layerTraces = &traces;
  model.lossSum(batch, context);
  return traces;
}

int64_t matches(const at::Tensor& predicted, const at::Tensor& truth) {
  return (predicted.unsqueeze(2) == truth.unsqueeze(1)).any(2).sum().item<int64_t>();
}

}  // namespace

std::vector<std::pair<size_t, size_t>> pregatePairs(const ModelConfig& config) {
  std::vector<std::pair<size_t, size_t>> pairs;
  const int64_t perStack = config.moeBlocksPerStack();
  for (int64_t i = 0; i + 1 < config.moeLayerCount(); ++i) {
    if ((i + 1) % perStack != 0) pairs.emplace_back(i, i + 1);
  }
  return pairs;
}

nlohmann::json pregateAccuracy(TrainableModel& model, const std::vector<TokenBatch>& valid) {
  auto layers = model.moeLayers();
  auto pairs = pregatePairs(model.config());
  const int64_t k = model.config().topK;
  const bool trained = !pairs.empty() && layers[pairs[0].first]->pregate.defined();
  int64_t routerHits = 0, trainedHits = 0, tokens = 0;
  for (const auto& batch : valid) {
    auto traces = traceForward(model, batch);
    auto traced = byLayer(traces);
    at::NoGradGuard noGrad;
    for (auto [n, next] : pairs) {
      const auto& input = traced.at(layers[n]->moeLayerId)->input;
      const auto& truth = traced.at(layers[next]->moeLayerId)->gating.expertIds;
      routerHits +=
          matches(std::get<1>(at::topk(at::matmul(input, layers[next]->router), k, 1)), truth);
      if (trained) {
        trainedHits +=
            matches(std::get<1>(at::topk(at::matmul(input, layers[n]->pregate), k, 1)), truth);
      }
      tokens += input.size(0);
    }
  }
  const double slots = static_cast<double>(std::max<int64_t>(1, tokens * k));
  nlohmann::json out{{"layer_pairs", pairs.size()},
                     {"tokens", tokens},
                     {"router_recall", static_cast<double>(routerHits) / slots},
                     {"trained_recall", nullptr}};
  if (trained) out["trained_recall"] = static_cast<double>(trainedHits) / slots;
  return out;
}

nlohmann::json trainPregates(TrainableModel& model, const TrainingData& data, const TrainPlan& plan,
                             uint64_t seed, const TrainProgress& progress) {
  auto pairs = pregatePairs(model.config());
  model.addPregates();
  auto layers = model.moeLayers();
  std::vector<NamedParameter> gates;
  for (auto [n, next] : pairs) {
    at::NoGradGuard noGrad;
    layers[n]->pregate.copy_(layers[next]->router);  // start from the training-free prediction
    layers[n]->pregate.requires_grad_(true);
    gates.push_back({"pregate." + std::to_string(n), layers[n]->pregate});
  }
  AdamWSettings settings;
  settings.weightDecay = 0;
  AdamW optimizer(gates, settings);
  double lastLoss = 0;
  const uint64_t pregateSeed = seed ^ 0x70726567617465ULL;  // batches apart from the main run's
  for (int64_t step = 1; step <= plan.pregateSteps && !pairs.empty(); ++step) {
    auto traces = traceForward(model, data.trainBatch(pregateSeed, step, plan.batch, plan.seqLen));
    auto traced = byLayer(traces);
    at::Tensor loss;
    for (auto [n, next] : pairs) {
      const auto& input = traced.at(layers[n]->moeLayerId)->input;
      const auto& truth = traced.at(layers[next]->moeLayerId)->gating.expertIds;
      auto logProbs = at::log_softmax(at::matmul(input, layers[n]->pregate), 1);
      auto term = -logProbs.gather(1, truth).mean();
      loss = loss.defined() ? loss + term : term;
    }
    loss = loss / static_cast<double>(pairs.size());
    loss.backward();
    optimizer.step(plan.lr);
    lastLoss = loss.item<double>();
    if (progress) {
      progress("pre-gates step " + std::to_string(step) + "/" + std::to_string(plan.pregateSteps) +
               " loss " + std::to_string(lastLoss));
    }
  }
  for (auto& gate : gates) gate.tensor.requires_grad_(false);
  return {{"steps", pairs.empty() ? 0 : plan.pregateSteps},
          {"final_loss", lastLoss},
          {"mode", "after the main training, model frozen, initialized from the next router"}};
}

}  // namespace moeprof::workloads::training
