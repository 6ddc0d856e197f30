#include "kernels/cuda/dynamic_dispatch.cuh"

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/expert_rank.cuh"
#include "kernels/cuda/gating.cuh"

namespace moeprof::kernels::cuda {
namespace {

// Dynamic dispatch takes the assignments in their own order.
struct AssignmentOrder {
  __device__ int64_t operator()(int64_t q) const { return q; }
};

struct DynamicSink {
  const float* gateWeights;
  int topK;
  int32_t* tokenOfRow;
  float* weightOfRow;
  int32_t* rowOfAssignment;
  __device__ void operator()(int64_t, int64_t assignment, int32_t, int32_t row) const {
    tokenOfRow[row] = static_cast<int32_t>(assignment / topK);
    weightOfRow[row] = gateWeights[assignment];
    rowOfAssignment[assignment] = row;
  }
};

__global__ void gatherRowsKernel(const float* __restrict__ x, const int32_t* __restrict__ rowsOf,
                                 int64_t rows, int64_t dModel, float* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * dModel) return;
  const int64_t row = i / dModel, col = i % dModel;
  out[i] = x[static_cast<int64_t>(rowsOf[row]) * dModel + col];
}

__global__ void combineKernel(const float* __restrict__ expertOut,
                              const int32_t* __restrict__ rowOfAssignment,
                              const float* __restrict__ gateWeights, int64_t tokens, int topK,
                              int64_t dModel, float* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= tokens * dModel) return;
  const int64_t token = i / dModel, col = i % dModel;
  // The token's rows in increasing order (k is small: insertion sort of indices).
  int order[kMaxTopK];
  for (int j = 0; j < topK; ++j) {
    int at = j;
    while (at > 0 &&
           rowOfAssignment[token * topK + order[at - 1]] > rowOfAssignment[token * topK + j]) {
      order[at] = order[at - 1];
      --at;
    }
    order[at] = j;
  }
  float sum = 0.0f;
  for (int m = 0; m < topK; ++m) {
    const int j = order[m];
    const int64_t row = rowOfAssignment[token * topK + j];
    // no fused multiply-add: the CPU rounds the product, then adds
    sum = __fadd_rn(sum, __fmul_rn(expertOut[row * dModel + col], gateWeights[token * topK + j]));
  }
  out[i] = sum;
}

constexpr int kThreads = 256;

}  // namespace

int64_t dynamicRoutingWorkspace(int64_t tokens, int topK, int64_t experts) {
  return experts * detail::chunkCount(tokens * topK);
}

cudaError_t launchDynamicRouting(const int32_t* expertIds, const float* gateWeights, int64_t tokens,
                                 int topK, int64_t experts, const DynamicRoutingDevice& out,
                                 int32_t* workspace, cudaStream_t stream) {
  if (topK < 1 || topK > kMaxTopK) return cudaErrorInvalidValue;
  DynamicSink sink{gateWeights, topK, out.tokenOfRow, out.weightOfRow, out.rowOfAssignment};
  return detail::rankByExpert(expertIds, tokens * topK, experts, AssignmentOrder{}, workspace,
                              out.tokensPerExpert, out.expertOffsets, sink, stream);
}

cudaError_t launchDynamicDispatch(const float* x, const int32_t* tokenOfRow, int64_t rows,
                                  int64_t dModel, float* out, cudaStream_t stream) {
  if (rows * dModel == 0) return cudaSuccess;
  gatherRowsKernel<<<blocksFor(rows * dModel, kThreads), kThreads, 0, stream>>>(x, tokenOfRow, rows,
                                                                                dModel, out);
  return cudaGetLastError();
}

cudaError_t launchDynamicCombine(const float* expertOut, const int32_t* rowOfAssignment,
                                 const float* gateWeights, int64_t tokens, int topK, int64_t dModel,
                                 float* out, cudaStream_t stream) {
  if (topK < 1 || topK > kMaxTopK) return cudaErrorInvalidValue;
  if (tokens * dModel == 0) return cudaSuccess;
  combineKernel<<<blocksFor(tokens * dModel, kThreads), kThreads, 0, stream>>>(
      expertOut, rowOfAssignment, gateWeights, tokens, topK, dModel, out);
  return cudaGetLastError();
}

}  // namespace moeprof::kernels::cuda
