#pragma once
// Shared by the MoE CUDA kernels: the error a launcher returns (the first failed call, or the
// launch's own error), and the block counts they use. CUDA runtime only; no LibTorch.
#include <cstdint>

#include <cuda_runtime.h>

namespace moeprof::kernels::cuda {

// Returns from the enclosing launcher with the error of a failed CUDA call.
#define MOEPROF_CUDA_TRY(call)                                  \
  do {                                                          \
    cudaError_t moeprof_status_ = (call);                       \
    if (moeprof_status_ != cudaSuccess) return moeprof_status_; \
  } while (0)

inline unsigned blocksFor(int64_t items, int threads) {
  return static_cast<unsigned>((items + threads - 1) / threads);
}

}  // namespace moeprof::kernels::cuda
