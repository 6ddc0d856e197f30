#pragma once
// Static (capacity) gating on a CUDA device, the paper's baseline, with the semantics of
// kernels/static_dispatch.cpp: every expert has C slots; slots are taken first by every
// token's first choice in slot order (token order, or batch-prioritized: decreasing top
// probability, ties in token order), then every second choice, and so on; an assignment whose
// slot would be >= C is dropped. Gate weights are the router probabilities of the kept choices,
// renormalized over them for k >= 2 (sum clamped at FLT_EPSILON), the raw probability for k = 1.
//
// The CPU builds dense (S, E, C) dispatch and combine tensors (the memory cost the paper
// measures); here the same routing is kept compact, as the slot of each assignment and the
// token of each slot, and dispatch/combine gather instead of multiplying by 0/1 masks. The
// results are the same: dispatch is exact, combine differs only in summation order. float32
// data, int32 indices. Every pointer is device memory.
#include <cstdint>

#include <cuda_runtime.h>

namespace moeprof::kernels::cuda {

struct StaticRoutingDevice {
  int32_t* slotOfAssignment;  // (S*k): slot of assignment s * k + j in its expert, -1 if dropped
  int32_t* tokenOfSlot;       // (E*C): token in slot c of expert e, -1 if empty
  float* gate;                // (S*k): combine weight of each assignment, 0 if dropped
  int32_t* dropped;           // (2): dropped assignments, tokens that lost every expert
};

// int32 elements of workspace launchStaticRouting needs.
int64_t staticRoutingWorkspace(int64_t tokens, int topK, int64_t experts);

// probs (S, E) and expertIds (S, k) as launchTopKGating writes them. E <= 12288. With
// batchPrioritized the slot order is found by ranking tokens on their top probability, O(S^2)
// comparisons (fine up to tens of thousands of tokens; a radix sort would replace it beyond).
cudaError_t launchStaticRouting(const float* probs, const int32_t* expertIds, int64_t tokens,
                                int64_t experts, int topK, int64_t capacity, bool batchPrioritized,
                                const StaticRoutingDevice& out, int32_t* workspace,
                                cudaStream_t stream);

// out (E, C, d): the token in each slot, zeros for empty slots; x (S, d).
cudaError_t launchStaticDispatch(const float* x, const int32_t* tokenOfSlot, int64_t experts,
                                 int64_t capacity, int64_t dModel, float* out, cudaStream_t stream);

// out (S, d) = sum over kept j of gate[s*k + j] * expertOut[e_j, slot_j]; expertOut (E, C, d).
cudaError_t launchStaticCombine(const float* expertOut, const int32_t* expertIds,
                                const int32_t* slotOfAssignment, const float* gate, int64_t tokens,
                                int topK, int64_t capacity, int64_t dModel, float* out,
                                cudaStream_t stream);

}  // namespace moeprof::kernels::cuda
