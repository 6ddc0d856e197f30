#pragma once
// Device code shared by dynamic and static dispatch (included by their .cu files only): a
// stable counting sort of token-expert assignments by expert. The assignments are taken in a
// sequence q = 0..n-1 (a Sequence maps q to the assignment index s * k + j); the rank of an
// assignment is its position among the assignments of its expert, in sequence order, which is
// what a stable argsort by expert gives (dynamic dispatch) or fairseq's cumsum over one-hot
// rows (static dispatch's slots).
//
// Three launches: per-chunk histograms (expert-major, chunkCount columns), one exclusive scan
// of them in a single block, and a scatter where each assignment counts the earlier ones of its
// expert in its own chunk. Chunks are kChunk assignments, one block each.
#include <cstdint>

#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.cuh"

namespace moeprof::kernels::cuda::detail {

inline constexpr int kChunk = 256;
inline constexpr int kScanThreads = 1024;
// Per-chunk histograms live in shared memory: 48 KiB of int32.
inline constexpr int64_t kMaxSortExperts = 12288;

inline int64_t chunkCount(int64_t n) {
  return (n + kChunk - 1) / kChunk;
}

// hist[e * chunks + b] = assignments of chunk b going to expert e.
template <typename Sequence>
__global__ void chunkHistogramKernel(const int32_t* __restrict__ expertIds, int64_t n,
                                     int64_t experts, Sequence sequence,
                                     int32_t* __restrict__ hist) {
  extern __shared__ int32_t local[];
  const int64_t chunks = gridDim.x;
  for (int64_t e = threadIdx.x; e < experts; e += blockDim.x) local[e] = 0;
  __syncthreads();
  const int64_t q = static_cast<int64_t>(blockIdx.x) * kChunk + threadIdx.x;
  if (q < n) atomicAdd(&local[expertIds[sequence(q)]], 1);
  __syncthreads();
  for (int64_t e = threadIdx.x; e < experts; e += blockDim.x) {
    hist[e * chunks + blockIdx.x] = local[e];
  }
}

// In place: hist becomes its exclusive prefix sum (expert-major, so expert e's first row is
// hist[e * chunks]). Also writes counts[e] and offsets[0..E] (offsets[E] = total). One block.
// static: this header is compiled into more than one translation unit.
static __global__ void scanHistogramKernel(int32_t* __restrict__ hist, int64_t experts,
                                           int64_t chunks, int32_t* __restrict__ counts,
                                           int32_t* __restrict__ offsets) {
  __shared__ int32_t partial[kScanThreads];
  const int64_t length = experts * chunks;
  const int64_t per = (length + kScanThreads - 1) / kScanThreads;
  const int64_t begin = threadIdx.x * per;
  const int64_t end = begin + per < length ? begin + per : length;
  int32_t sum = 0;
  for (int64_t i = begin; i < end; ++i) sum += hist[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  // Hillis-Steele inclusive scan of the per-thread sums.
  for (int offset = 1; offset < kScanThreads; offset *= 2) {
    const int32_t add = threadIdx.x >= offset ? partial[threadIdx.x - offset] : 0;
    __syncthreads();
    partial[threadIdx.x] += add;
    __syncthreads();
  }
  int32_t running = threadIdx.x == 0 ? 0 : partial[threadIdx.x - 1];
  for (int64_t i = begin; i < end; ++i) {
    const int32_t value = hist[i];
    hist[i] = running;
    running += value;
  }
  __syncthreads();
  for (int64_t e = threadIdx.x; e < experts; e += blockDim.x) {
    const int32_t start = hist[e * chunks];
    const int32_t next = e + 1 < experts ? hist[(e + 1) * chunks] : partial[kScanThreads - 1];
    offsets[e] = start;
    counts[e] = next - start;
  }
  if (threadIdx.x == 0) offsets[experts] = partial[kScanThreads - 1];
}

// The row (0..n-1, grouped by expert) of each assignment in the sequence: sink(q, assignment,
// expert, row) is called once per q.
template <typename Sequence, typename Sink>
__global__ void scatterRanksKernel(const int32_t* __restrict__ expertIds, int64_t n,
                                   Sequence sequence, const int32_t* __restrict__ scannedHist,
                                   Sink sink) {
  __shared__ int32_t chunkExperts[kChunk];
  const int64_t chunks = gridDim.x;
  const int64_t q = static_cast<int64_t>(blockIdx.x) * kChunk + threadIdx.x;
  int64_t assignment = -1;
  int32_t expert = -1;
  if (q < n) {
    assignment = sequence(q);
    expert = expertIds[assignment];
  }
  chunkExperts[threadIdx.x] = expert;
  __syncthreads();
  if (q >= n) return;
  int32_t before = 0;
  for (int t = 0; t < static_cast<int>(threadIdx.x); ++t) before += chunkExperts[t] == expert;
  const int32_t row = scannedHist[static_cast<int64_t>(expert) * chunks + blockIdx.x] + before;
  sink(q, assignment, expert, row);
}

// Runs the three launches; hist has experts * chunkCount(n) int32 of workspace.
template <typename Sequence, typename Sink>
cudaError_t rankByExpert(const int32_t* expertIds, int64_t n, int64_t experts, Sequence sequence,
                         int32_t* hist, int32_t* counts, int32_t* offsets, Sink sink,
                         cudaStream_t stream) {
  if (experts < 1 || experts > kMaxSortExperts) return cudaErrorInvalidValue;
  const int64_t chunks = chunkCount(n);
  if (chunks == 0) {
    MOEPROF_CUDA_TRY(cudaMemsetAsync(counts, 0, experts * sizeof(int32_t), stream));
    return cudaMemsetAsync(offsets, 0, (experts + 1) * sizeof(int32_t), stream);
  }
  chunkHistogramKernel<<<static_cast<unsigned>(chunks), kChunk, experts * sizeof(int32_t),
                         stream>>>(expertIds, n, experts, sequence, hist);
  MOEPROF_CUDA_TRY(cudaGetLastError());
  scanHistogramKernel<<<1, kScanThreads, 0, stream>>>(hist, experts, chunks, counts, offsets);
  MOEPROF_CUDA_TRY(cudaGetLastError());
  scatterRanksKernel<<<static_cast<unsigned>(chunks), kChunk, 0, stream>>>(expertIds, n, sequence,
                                                                           hist, sink);
  return cudaGetLastError();
}

}  // namespace moeprof::kernels::cuda::detail
