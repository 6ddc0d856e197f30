#include "kernels/cuda/grouped_ffn.cuh"

#include "kernels/cuda/cuda_check.cuh"

namespace moeprof::kernels::cuda {
namespace {

// 64 x 64 output tiles, 16-deep slices of K, 256 threads of 4 x 4 outputs each.
constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 16;
constexpr int kThreads = 256;

// tileStart[e] = row tiles of the experts before e; tileStart[E] = all row tiles. One block.
__global__ void tileMapKernel(const int32_t* __restrict__ offsets, int64_t experts,
                              int32_t* __restrict__ tileStart) {
  __shared__ int32_t partial[kThreads];
  const int64_t per = (experts + kThreads - 1) / kThreads;
  const int64_t begin = threadIdx.x * per;
  const int64_t end = begin + per < experts ? begin + per : experts;
  int32_t sum = 0;
  for (int64_t e = begin; e < end; ++e) {
    sum += (offsets[e + 1] - offsets[e] + kTileM - 1) / kTileM;
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int offset = 1; offset < kThreads; offset *= 2) {
    const int32_t add = threadIdx.x >= offset ? partial[threadIdx.x - offset] : 0;
    __syncthreads();
    partial[threadIdx.x] += add;
    __syncthreads();
  }
  int32_t running = threadIdx.x == 0 ? 0 : partial[threadIdx.x - 1];
  for (int64_t e = begin; e < end; ++e) {
    tileStart[e] = running;
    running += (offsets[e + 1] - offsets[e] + kTileM - 1) / kTileM;
  }
  if (threadIdx.x == 0) tileStart[experts] = partial[kThreads - 1];
}

__device__ float toFloat(float v) {
  return v;
}
__device__ float toFloat(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
__device__ float toFloat(__half v) {
  return __half2float(v);
}

template <typename T>
__device__ T fromFloat(float v);
template <>
__device__ float fromFloat<float>(float v) {
  return v;
}
template <>
__device__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __half fromFloat<__half>(float v) {
  return __float2half_rn(v);
}

// C[rows of group e] = act(A[rows of e] B[e] + bias[e]); A (rows, K), B (E, K, N), C (rows, N).
// Tiles are float in shared memory whatever T; accumulation is float.
template <typename T, bool kRelu>
__global__ void __launch_bounds__(kThreads)
    groupedGemmKernel(const T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ bias,
                      const int32_t* __restrict__ offsets, const int32_t* __restrict__ tileStart,
                      int64_t experts, int64_t k, int64_t n, T* __restrict__ c) {
  __shared__ float aTile[kTileK][kTileM + 1];
  __shared__ float bTile[kTileK][kTileN];
  const int32_t tile = blockIdx.y;
  if (tile >= tileStart[experts]) return;
  // The group this row tile belongs to: the last e with tileStart[e] <= tile.
  int64_t lo = 0, hi = experts - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (tileStart[mid] <= tile) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const int64_t e = lo;
  const int64_t rowBegin = offsets[e] + static_cast<int64_t>(tile - tileStart[e]) * kTileM;
  const int64_t rowEnd = offsets[e + 1];
  const int64_t colBegin = static_cast<int64_t>(blockIdx.x) * kTileN;
  const T* bExpert = b + e * k * n;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;  // 16 x 16 threads, 4 x 4 outputs each

  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < k; k0 += kTileK) {
    for (int i = threadIdx.x; i < kTileM * kTileK; i += kThreads) {
      const int r = i / kTileK, kk = i % kTileK;
      const int64_t row = rowBegin + r, col = k0 + kk;
      aTile[kk][r] = row < rowEnd && col < k ? toFloat(a[row * k + col]) : 0.0f;
    }
    for (int i = threadIdx.x; i < kTileK * kTileN; i += kThreads) {
      const int kk = i / kTileN, cc = i % kTileN;
      const int64_t row = k0 + kk, col = colBegin + cc;
      bTile[kk][cc] = row < k && col < n ? toFloat(bExpert[row * n + col]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = aTile[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = bTile[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t row = rowBegin + ty + 16 * i;
    if (row >= rowEnd) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t col = colBegin + tx + 16 * j;
      if (col >= n) continue;
      float v = acc[i][j] + toFloat(bias[e * n + col]);
      if (kRelu) v = v < 0.0f ? 0.0f : v;  // keeps NaN, as at::relu
      c[row * n + col] = fromFloat<T>(v);
    }
  }
}

}  // namespace

int64_t groupedExpertFfnWorkspace(int64_t experts) {
  return experts + 1;
}

template <typename T>
cudaError_t launchGroupedExpertFfn(const ExpertWeightsDeviceOf<T>& weights, const T* x,
                                   const int32_t* offsets, int64_t rows, int64_t experts,
                                   int64_t dModel, int64_t ffn, T* hidden, T* out,
                                   int32_t* workspace, cudaStream_t stream) {
  if (experts < 1) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  int32_t* tileStart = workspace;
  tileMapKernel<<<1, kThreads, 0, stream>>>(offsets, experts, tileStart);
  MOEPROF_CUDA_TRY(cudaGetLastError());
  // At most one partial tile per group beyond the full ones.
  const int64_t maxTiles = (rows + kTileM - 1) / kTileM + experts;
  if (maxTiles > 65535) return cudaErrorInvalidConfiguration;  // gridDim.y limit
  const dim3 first(static_cast<unsigned>((ffn + kTileN - 1) / kTileN),
                   static_cast<unsigned>(maxTiles));
  groupedGemmKernel<T, true><<<first, kThreads, 0, stream>>>(
      x, weights.w1, weights.b1, offsets, tileStart, experts, dModel, ffn, hidden);
  MOEPROF_CUDA_TRY(cudaGetLastError());
  const dim3 second(static_cast<unsigned>((dModel + kTileN - 1) / kTileN),
                    static_cast<unsigned>(maxTiles));
  groupedGemmKernel<T, false><<<second, kThreads, 0, stream>>>(
      hidden, weights.w2, weights.b2, offsets, tileStart, experts, ffn, dModel, out);
  return cudaGetLastError();
}

template cudaError_t launchGroupedExpertFfn<float>(const ExpertWeightsDeviceOf<float>&,
                                                   const float*, const int32_t*, int64_t, int64_t,
                                                   int64_t, int64_t, float*, float*, int32_t*,
                                                   cudaStream_t);
template cudaError_t launchGroupedExpertFfn<__nv_bfloat16>(
    const ExpertWeightsDeviceOf<__nv_bfloat16>&, const __nv_bfloat16*, const int32_t*, int64_t,
    int64_t, int64_t, int64_t, __nv_bfloat16*, __nv_bfloat16*, int32_t*, cudaStream_t);
template cudaError_t launchGroupedExpertFfn<__half>(const ExpertWeightsDeviceOf<__half>&,
                                                    const __half*, const int32_t*, int64_t, int64_t,
                                                    int64_t, int64_t, __half*, __half*, int32_t*,
                                                    cudaStream_t);

}  // namespace moeprof::kernels::cuda
