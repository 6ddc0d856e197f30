#include "kernels/cuda/gating.cuh"

#include <cfloat>

#include "kernels/cuda/cuda_check.cuh"

namespace moeprof::kernels::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;

// a comes before b in top-k order: higher probability, then lower expert id.
__device__ bool before(float av, int ai, float bv, int bi) {
  return av > bv || (av == bv && ai < bi);
}

__global__ void topKGatingKernel(const float* __restrict__ logits, int64_t tokens, int64_t experts,
                                 int topK, float* __restrict__ probs,
                                 int32_t* __restrict__ expertIds, float* __restrict__ gateWeights) {
  const int lane = threadIdx.x % kWarp;
  const int64_t token = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (token >= tokens) return;
  const float* row = logits + token * experts;
  float* probRow = probs + token * experts;

  // Softmax as ATen computes it on the CPU: exp(x - max), then times 1 / sum.
  float max = -INFINITY;
  for (int64_t e = lane; e < experts; e += kWarp) max = fmaxf(max, row[e]);
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    max = fmaxf(max, __shfl_xor_sync(0xffffffffu, max, offset));
  }
  float sum = 0.0f;
  for (int64_t e = lane; e < experts; e += kWarp) {
    const float p = expf(row[e] - max);
    probRow[e] = p;
    sum += p;
  }
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  }
  const float scale = 1.0f / sum;
  for (int64_t e = lane; e < experts; e += kWarp) probRow[e] *= scale;
  __syncwarp();

  // The k best, one at a time: each round takes the best expert that comes after the previous
  // pick in top-k order, so nothing needs marking.
  float prevValue = INFINITY;
  int prevId = -1;
  float values[kMaxTopK];
  float total = 0.0f;
  for (int j = 0; j < topK; ++j) {
    float bestValue = -INFINITY;
    int bestId = INT32_MAX;
    for (int64_t e = lane; e < experts; e += kWarp) {
      const float v = probRow[e];
      const int id = static_cast<int>(e);
      if (before(prevValue, prevId, v, id) && before(v, id, bestValue, bestId)) {
        bestValue = v;
        bestId = id;
      }
    }
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      const float otherValue = __shfl_xor_sync(0xffffffffu, bestValue, offset);
      const int otherId = __shfl_xor_sync(0xffffffffu, bestId, offset);
      if (before(otherValue, otherId, bestValue, bestId)) {
        bestValue = otherValue;
        bestId = otherId;
      }
    }
    values[j] = bestValue;
    total += bestValue;
    prevValue = bestValue;
    prevId = bestId;
    if (lane == 0) expertIds[token * topK + j] = bestId;
  }
  if (lane == 0) {
    const float denom = fmaxf(total, FLT_EPSILON);
    for (int j = 0; j < topK; ++j) {
      gateWeights[token * topK + j] = topK == 1 ? values[j] : values[j] / denom;
    }
  }
}

}  // namespace

cudaError_t launchTopKGating(const float* logits, int64_t tokens, int64_t experts, int topK,
                             float* probs, int32_t* expertIds, float* gateWeights,
                             cudaStream_t stream) {
  if (topK < 1 || topK > kMaxTopK || topK > experts) return cudaErrorInvalidValue;
  if (tokens == 0) return cudaSuccess;
  topKGatingKernel<<<blocksFor(tokens, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0, stream>>>(
      logits, tokens, experts, topK, probs, expertIds, gateWeights);
  return cudaGetLastError();
}

}  // namespace moeprof::kernels::cuda
