#include "kernels/expert_ffn.h"

#include <ATen/ATen.h>

namespace moeprof::kernels {

int64_t ExpertWeights::bytes() const {
  int64_t total = 0;
  for (const auto* t : {&w1, &b1, &w2, &b2}) {
    if (t->defined()) total += t->numel() * static_cast<int64_t>(t->element_size());
  }
  return total;
}

at::Tensor expertFfn(const ExpertWeights& weights, int64_t expert, const at::Tensor& x) {
  auto hidden = at::addmm(weights.b1[expert], x, weights.w1[expert]);
  hidden.relu_();
  return at::addmm(weights.b2[expert], hidden, weights.w2[expert]);
}

at::Tensor batchedExpertFfn(const ExpertWeights& weights, const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(0) == weights.numExperts(),
              "batched expert input must be (experts, capacity, d_model)");
  auto hidden = at::baddbmm(weights.b1.unsqueeze(1), x, weights.w1);
  hidden.relu_();
  return at::baddbmm(weights.b2.unsqueeze(1), hidden, weights.w2);
}

at::Tensor groupedExpertFfn(const ExpertProvider& experts, const at::Tensor& x,
                            const std::vector<int64_t>& counts) {
  int64_t dModel = x.size(1);
  auto out = at::empty({x.size(0), dModel}, x.options());
  int64_t offset = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    int64_t count = counts[e];
    if (count == 0) continue;
    ExpertView expert = experts(static_cast<int64_t>(e));
    auto hidden = at::addmm(expert.b1, x.narrow(0, offset, count), expert.w1);
    hidden.relu_();
    auto rows = out.narrow(0, offset, count);
    at::addmm_out(rows, expert.b2, hidden, expert.w2);
    offset += count;
  }
  TORCH_CHECK(offset == x.size(0), "token counts do not add up to the rows given");
  return out;
}

at::Tensor groupedExpertFfn(const ExpertWeights& weights, const at::Tensor& x,
                            const std::vector<int64_t>& counts) {
  TORCH_CHECK(static_cast<int64_t>(counts.size()) == weights.numExperts(),
              "one token count per expert expected");
  return groupedExpertFfn([&](int64_t e) { return weights.expert(e); }, x, counts);
}

}  // namespace moeprof::kernels
