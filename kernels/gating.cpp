#include "kernels/gating.h"

#include <ATen/ATen.h>

namespace moeprof::kernels {

TopKGating topKGating(const at::Tensor& logits, int64_t k) {
  TORCH_CHECK(logits.dim() == 2, "router logits must be (tokens, experts)");
  TORCH_CHECK(k >= 1 && k <= logits.size(1), "top-k must be in [1, experts]");
  TopKGating gating;
  gating.probs = at::softmax(logits.to(at::kFloat), /*dim=*/1);
  auto [values, ids] = at::topk(gating.probs, k, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
  gating.expertIds = ids;
  if (k == 1) {
    gating.gateWeights = values;
  } else {
    auto denom = values.sum(1, /*keepdim=*/true).clamp_min(std::numeric_limits<float>::epsilon());
    gating.gateWeights = values / denom;
  }
  return gating;
}

}  // namespace moeprof::kernels
