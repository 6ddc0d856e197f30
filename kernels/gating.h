#pragma once
// Top-k gating: the router's softmax over experts and the k experts each token goes to.
#include <ATen/core/Tensor.h>

namespace moeprof::kernels {

// The routing decision for S tokens over E experts.
struct TopKGating {
  at::Tensor probs;        // (S, E) float, softmax of the router logits
  at::Tensor expertIds;    // (S, k) int64, best expert first
  at::Tensor gateWeights;  // (S, k) float, see topKGating for the normalization
};

// Softmax over experts, then the k most probable experts per token (ties broken as at::topk does).
// As in fairseq: top-1 keeps the raw probability as gate weight; top-k with k >= 2 renormalizes
// the k probabilities to sum to 1.
TopKGating topKGating(const at::Tensor& logits, int64_t k);

}  // namespace moeprof::kernels
