#pragma once
// Static (capacity) gating as GShard and fairseq do it, the paper's baseline: every expert gets a
// buffer of C slots, tokens go in first-come order, tokens over capacity are dropped (carried
// only by the residual), empty slots are zero-padded and computed anyway. Dispatch and combine
// are dense contractions over (S, E, C) tensors, whose size is the memory cost the paper finds.
#include <ATen/core/Tensor.h>

#include "kernels/capacity.h"
#include "kernels/gating.h"

namespace moeprof::kernels {

// In which order tokens take their experts' capacity slots.
enum class SlotOrder {
  Token,  // token order, fairseq's default
  // fairseq's batch-prioritized routing: tokens in decreasing order of their top gate
  // probability (ties: token order), so the tokens the router is surest of keep their slots
  // and the unsure ones drop.
  BatchPrioritized,
};

// The static routing of S tokens: where each kept token-expert assignment sits.
//
// Drop order (as fairseq's top2gating): slots are filled by all first choices in slot order
// (token order, or batch-prioritized), then all second choices in the same order, and so on; an
// assignment whose slot index would be >= C is dropped. Gate weights are renormalized over the kept
// choices of each token after dropping (top-1: the raw probability), so a token that keeps one of
// two experts puts its full weight there, and a token that keeps none contributes zero.
struct StaticRouting {
  int64_t capacity = 0;
  at::Tensor combineWeights;       // (S, E, C) float: gate weight of token s in slot c of expert e
  at::Tensor dispatchMask;         // (S, E, C) 0/1 in the compute dtype, as einsum consumes it
  at::Tensor kept;                 // (S, k) bool: which assignments survived the capacity limit
  int64_t droppedAssignments = 0;  // token-expert assignments over capacity
  int64_t droppedTokens = 0;       // tokens that lost every expert
};

StaticRouting buildStaticRouting(const TopKGating& gating, int64_t capacity,
                                 SlotOrder order = SlotOrder::Token);

// (S, d_model) -> (E, C, d_model): einsum("sec,sm->ecm").
at::Tensor staticDispatch(const StaticRouting& routing, const at::Tensor& x);
// (E, C, d_model) -> (S, d_model): einsum("sec,ecm->sm").
at::Tensor staticCombine(const StaticRouting& routing, const at::Tensor& expertOut);

}  // namespace moeprof::kernels
