#pragma once
// Top-k gating: the router's softmax over experts and the k experts each token goes to.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace moeprof::kernels {

// The routing decision for S tokens over E experts.
struct TopKGating {
  at::Tensor probs;        // (S, E) float, softmax of the router logits
  at::Tensor expertIds;    // (S, k) int64, best expert first
  at::Tensor gateWeights;  // (S, k) float, see topKGating for the normalization
};

// How the experts after the first are chosen: fairseq's `second_expert_policy` of top2gating.
enum class SecondExpert {
  // The next most probable experts (fairseq's "all"): deterministic. moeprof's default.
  All,
  // fairseq's default "sampling", in evaluation too: Gumbel(0, 1) noise is added to the logits
  // before the experts after the first are picked (the first stays the argmax), so a token
  // whose runner-up is close to others is spread over them. Gate weights stay those of the
  // noise-free softmax. Seeded, so a run is reproducible.
  Sampling,
};

// Where the Gumbel noise of SecondExpert::Sampling comes from: a seed per gating call, so that
// calls draw independent noise and a run repeats exactly (see ForwardContext::noiseSeed).
struct GatingChoice {
  SecondExpert secondExpert = SecondExpert::All;
  uint64_t noiseSeed = 0;
};

// Softmax over experts, then the k experts per token: the k most probable (ties broken as
// at::topk does), or with SecondExpert::Sampling the most probable and then the k-1 best of the
// noisy logits among the others (top-1: no second expert, so no noise). As in fairseq: top-1
// keeps the raw probability as gate weight; top-k with k >= 2 renormalizes the k probabilities
// to sum to 1.
TopKGating topKGating(const at::Tensor& logits, int64_t k, const GatingChoice& choice = {});

}  // namespace moeprof::kernels
