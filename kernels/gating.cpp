#include "kernels/gating.h"

#include <limits>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace moeprof::kernels {
namespace {

// Gumbel(0, 1) noise of the logits' shape, -log(-log(U)) with U uniform in (0, 1), drawn on the
// CPU from `seed` (the same on every device and thread count) and moved to the logits' device.
at::Tensor gumbelNoise(const at::Tensor& logits, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto uniform = at::empty(logits.sizes(), at::TensorOptions().dtype(at::kFloat));
  uniform.uniform_(std::numeric_limits<float>::min(), 1.0, generator);
  return uniform.log_().neg_().log_().neg_().to(logits.device());
}

// The first expert by probability, the others from the noisy logits with the first masked out.
at::Tensor sampledExperts(const at::Tensor& logits, const at::Tensor& probs, int64_t k,
                          uint64_t seed) {
  auto first = probs.argmax(/*dim=*/1, /*keepdim=*/true);
  auto noisy = logits.to(at::kFloat) + gumbelNoise(logits, seed);
  noisy.scatter_(1, first, -std::numeric_limits<float>::infinity());
  auto rest = std::get<1>(at::topk(noisy, k - 1, /*dim=*/1, /*largest=*/true, /*sorted=*/true));
  return at::cat({first, rest}, 1);
}

}  // namespace

TopKGating topKGating(const at::Tensor& logits, int64_t k, const GatingChoice& choice) {
  TORCH_CHECK(logits.dim() == 2, "router logits must be (tokens, experts)");
  TORCH_CHECK(k >= 1 && k <= logits.size(1), "top-k must be in [1, experts]");
  TopKGating gating;
  gating.probs = at::softmax(logits.to(at::kFloat), /*dim=*/1);
  at::Tensor values;
  if (choice.secondExpert == SecondExpert::Sampling && k >= 2) {
    gating.expertIds = sampledExperts(logits, gating.probs, k, choice.noiseSeed);
    values = gating.probs.gather(1, gating.expertIds);
  } else {
    auto [topValues, ids] = at::topk(gating.probs, k, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
    gating.expertIds = ids;
    values = topValues;
  }
  if (k == 1) {
    gating.gateWeights = values;
  } else {
    auto denom = values.sum(1, /*keepdim=*/true).clamp_min(std::numeric_limits<float>::epsilon());
    gating.gateWeights = values / denom;
  }
  return gating;
}

}  // namespace moeprof::kernels
