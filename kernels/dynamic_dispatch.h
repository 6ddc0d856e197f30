#pragma once
// Dynamic gating, the paper's first optimization: sort token-expert assignments by expert
// (argsort, O(S log S)), count tokens per expert (bincount), gather the tokens into one
// contiguous buffer, run each expert on exactly its tokens, and combine by indexing.
// No capacity, no drops, no padding.
#include <vector>

#include <ATen/core/Tensor.h>

#include "kernels/gating.h"

namespace moeprof::kernels {

// The S*k token-expert assignments of a batch, ordered by expert.
struct DynamicRouting {
  at::Tensor tokenOfRow;                 // (S*k,) int64: the token each sorted row comes from
  at::Tensor weightOfRow;                // (S*k,) float: its gate weight
  std::vector<int64_t> tokensPerExpert;  // (E): rows of each expert, in expert order
};

DynamicRouting buildDynamicRouting(const TopKGating& gating);

// (S, d_model) -> (S*k, d_model), rows grouped by expert.
at::Tensor dynamicDispatch(const DynamicRouting& routing, const at::Tensor& x);
// (S*k, d_model) -> (S, d_model): gate-weighted sum of each token's expert outputs.
at::Tensor dynamicCombine(const DynamicRouting& routing, const at::Tensor& expertOut,
                          int64_t tokens);

}  // namespace moeprof::kernels
