#pragma once
// Dynamic gating's dispatch and combine on a CUDA device, as kernels/dynamic_dispatch.cpp: the
// S*k token-expert assignments (assignment r = s * k + j) sorted stably by expert, so that
// within an expert rows keep assignment order (what the CPU's stable argsort gives); tokens per
// expert and their exclusive-scan offsets; token rows gathered into one buffer grouped by
// expert; combine as the gate-weighted sum of each token's expert rows. float32 data, int32
// indices. Every pointer is device memory.
#include <cstdint>

#include <cuda_runtime.h>

namespace moeprof::kernels::cuda {

struct DynamicRoutingDevice {
  int32_t* tokensPerExpert;  // (E)
  int32_t* expertOffsets;    // (E + 1): expert e's rows are [offsets[e], offsets[e + 1])
  int32_t* tokenOfRow;       // (S*k): the token each sorted row comes from
  float* weightOfRow;        // (S*k): its gate weight
  int32_t* rowOfAssignment;  // (S*k): where assignment s * k + j went (combine's gather)
};

// int32 elements of workspace launchDynamicRouting needs.
int64_t dynamicRoutingWorkspace(int64_t tokens, int topK, int64_t experts);

// expertIds and gateWeights (S, k) as launchTopKGating writes them. E <= 12288.
cudaError_t launchDynamicRouting(const int32_t* expertIds, const float* gateWeights, int64_t tokens,
                                 int topK, int64_t experts, const DynamicRoutingDevice& out,
                                 int32_t* workspace, cudaStream_t stream);

// out (S*k, d) = x[tokenOfRow]: x (S, d).
cudaError_t launchDynamicDispatch(const float* x, const int32_t* tokenOfRow, int64_t rows,
                                  int64_t dModel, float* out, cudaStream_t stream);

// out (S, d): out[s] = sum over j of gateWeights[s, j] * expertOut[rowOfAssignment[s*k + j]],
// added in increasing row order, each product rounded before the add: what the CPU's
// index_add_ over sorted rows computes, so it matches it bit for bit.
cudaError_t launchDynamicCombine(const float* expertOut, const int32_t* rowOfAssignment,
                                 const float* gateWeights, int64_t tokens, int topK, int64_t dModel,
                                 float* out, cudaStream_t stream);

}  // namespace moeprof::kernels::cuda
