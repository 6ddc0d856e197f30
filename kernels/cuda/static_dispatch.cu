#include "kernels/cuda/static_dispatch.cuh"

#include <cfloat>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/expert_rank.cuh"
#include "kernels/cuda/gating.cuh"

namespace moeprof::kernels::cuda {
namespace {

constexpr int kThreads = 256;

// Static dispatch takes the assignments choice-major: all first choices in slot order, then
// all second choices. q = j * S + i; the i-th token in slot order is order[i] (or i).
struct ChoiceMajorOrder {
  int64_t tokens;
  int topK;
  const int32_t* order;  // tokens in slot order, or null for token order
  __device__ int64_t operator()(int64_t q) const {
    const int64_t j = q / tokens, i = q % tokens;
    const int64_t token = order ? order[i] : i;
    return token * topK + j;
  }
};

struct StaticSink {
  const int32_t* offsets;  // expert e's first row in the sorted sequence
  int64_t capacity;
  int topK;
  int32_t* slotOfAssignment;
  int32_t* tokenOfSlot;
  __device__ void operator()(int64_t, int64_t assignment, int32_t expert, int32_t row) const {
    const int32_t slot = row - offsets[expert];
    if (slot < capacity) {
      slotOfAssignment[assignment] = slot;
      tokenOfSlot[expert * capacity + slot] = static_cast<int32_t>(assignment / topK);
    } else {
      slotOfAssignment[assignment] = -1;
    }
  }
};

// The top probability of each token (as probs.max(1) on the CPU).
__global__ void topProbabilityKernel(const float* __restrict__ probs, int64_t tokens,
                                     int64_t experts, float* __restrict__ top) {
  const int64_t s = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (s >= tokens) return;
  float best = -INFINITY;
  for (int64_t e = 0; e < experts; ++e) best = fmaxf(best, probs[s * experts + e]);
  top[s] = best;
}

// order[rank] = s, rank = tokens before s in a stable descending sort of top.
__global__ void rankTokensKernel(const float* __restrict__ top, int64_t tokens,
                                 int32_t* __restrict__ order) {
  __shared__ float tile[kThreads];
  const int64_t s = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const float mine = s < tokens ? top[s] : 0.0f;
  int32_t rank = 0;
  for (int64_t base = 0; base < tokens; base += kThreads) {
    if (base + threadIdx.x < tokens) tile[threadIdx.x] = top[base + threadIdx.x];
    __syncthreads();
    const int64_t n = tokens - base < kThreads ? tokens - base : kThreads;
    for (int64_t t = 0; t < n; ++t) {
      const float other = tile[t];
      rank += other > mine || (other == mine && base + t < s);
    }
    __syncthreads();
  }
  if (s < tokens) order[rank] = static_cast<int32_t>(s);
}

__global__ void gatesKernel(const float* __restrict__ probs, const int32_t* __restrict__ expertIds,
                            const int32_t* __restrict__ slotOfAssignment, int64_t tokens,
                            int64_t experts, int topK, float* __restrict__ gate,
                            int32_t* __restrict__ dropped) {
  const int64_t s = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (s >= tokens) return;
  float sum = 0.0f;
  int kept = 0;
  for (int j = 0; j < topK; ++j) {
    const int64_t a = s * topK + j;
    const bool keep = slotOfAssignment[a] >= 0;
    const float g = keep ? probs[s * experts + expertIds[a]] : 0.0f;
    gate[a] = g;
    sum += g;
    kept += keep;
  }
  if (topK > 1) {
    const float denom = fmaxf(sum, FLT_EPSILON);
    for (int j = 0; j < topK; ++j) gate[s * topK + j] /= denom;
  }
  if (kept < topK) atomicAdd(&dropped[0], topK - kept);
  if (kept == 0) atomicAdd(&dropped[1], 1);
}

__global__ void slotRowsKernel(const float* __restrict__ x, const int32_t* __restrict__ tokenOfSlot,
                               int64_t slots, int64_t dModel, float* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= slots * dModel) return;
  const int32_t token = tokenOfSlot[i / dModel];
  out[i] = token >= 0 ? x[static_cast<int64_t>(token) * dModel + i % dModel] : 0.0f;
}

__global__ void staticCombineKernel(const float* __restrict__ expertOut,
                                    const int32_t* __restrict__ expertIds,
                                    const int32_t* __restrict__ slotOfAssignment,
                                    const float* __restrict__ gate, int64_t tokens, int topK,
                                    int64_t capacity, int64_t dModel, float* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= tokens * dModel) return;
  const int64_t token = i / dModel, col = i % dModel;
  float sum = 0.0f;
  for (int j = 0; j < topK; ++j) {
    const int64_t a = token * topK + j;
    const int32_t slot = slotOfAssignment[a];
    if (slot < 0) continue;
    const int64_t row = static_cast<int64_t>(expertIds[a]) * capacity + slot;
    sum += gate[a] * expertOut[row * dModel + col];
  }
  out[i] = sum;
}

}  // namespace

int64_t staticRoutingWorkspace(int64_t tokens, int topK, int64_t experts) {
  // histograms, counts (E), offsets (E + 1), slot order (S), top probabilities (S, as float)
  return experts * detail::chunkCount(tokens * topK) + 2 * experts + 1 + 2 * tokens;
}

cudaError_t launchStaticRouting(const float* probs, const int32_t* expertIds, int64_t tokens,
                                int64_t experts, int topK, int64_t capacity, bool batchPrioritized,
                                const StaticRoutingDevice& out, int32_t* workspace,
                                cudaStream_t stream) {
  if (topK < 1 || topK > kMaxTopK || capacity < 1) return cudaErrorInvalidValue;
  int32_t* hist = workspace;
  int32_t* counts = hist + experts * detail::chunkCount(tokens * topK);
  int32_t* offsets = counts + experts;
  int32_t* order = offsets + experts + 1;
  float* top = reinterpret_cast<float*>(order + tokens);
  MOEPROF_CUDA_TRY(
      cudaMemsetAsync(out.tokenOfSlot, 0xff, experts * capacity * sizeof(int32_t), stream));
  MOEPROF_CUDA_TRY(cudaMemsetAsync(out.dropped, 0, 2 * sizeof(int32_t), stream));
  if (tokens == 0) return cudaSuccess;
  if (batchPrioritized) {
    topProbabilityKernel<<<blocksFor(tokens, kThreads), kThreads, 0, stream>>>(probs, tokens,
                                                                               experts, top);
    MOEPROF_CUDA_TRY(cudaGetLastError());
    rankTokensKernel<<<blocksFor(tokens, kThreads), kThreads, 0, stream>>>(top, tokens, order);
    MOEPROF_CUDA_TRY(cudaGetLastError());
  }
  ChoiceMajorOrder sequence{tokens, topK, batchPrioritized ? order : nullptr};
  StaticSink sink{offsets, capacity, topK, out.slotOfAssignment, out.tokenOfSlot};
  MOEPROF_CUDA_TRY(detail::rankByExpert(expertIds, tokens * topK, experts, sequence, hist, counts,
                                        offsets, sink, stream));
  gatesKernel<<<blocksFor(tokens, kThreads), kThreads, 0, stream>>>(
      probs, expertIds, out.slotOfAssignment, tokens, experts, topK, out.gate, out.dropped);
  return cudaGetLastError();
}

cudaError_t launchStaticDispatch(const float* x, const int32_t* tokenOfSlot, int64_t experts,
                                 int64_t capacity, int64_t dModel, float* out,
                                 cudaStream_t stream) {
  const int64_t slots = experts * capacity;
  if (slots * dModel == 0) return cudaSuccess;
  slotRowsKernel<<<blocksFor(slots * dModel, kThreads), kThreads, 0, stream>>>(x, tokenOfSlot,
                                                                               slots, dModel, out);
  return cudaGetLastError();
}

cudaError_t launchStaticCombine(const float* expertOut, const int32_t* expertIds,
                                const int32_t* slotOfAssignment, const float* gate, int64_t tokens,
                                int topK, int64_t capacity, int64_t dModel, float* out,
                                cudaStream_t stream) {
  if (tokens * dModel == 0) return cudaSuccess;
  staticCombineKernel<<<blocksFor(tokens * dModel, kThreads), kThreads, 0, stream>>>(
      expertOut, expertIds, slotOfAssignment, gate, tokens, topK, capacity, dModel, out);
  return cudaGetLastError();
}

}  // namespace moeprof::kernels::cuda
