#pragma once
// Whether the GPU tests can run: why not (no driver, no device), or empty when a CUDA device is
// there. Each GPU test's SetUp skips with this reason, so ctest shows it as skipped.
#include <string>

#include <cuda_runtime_api.h>

namespace moeprof::testing {

inline std::string noCudaDeviceReason() {
  int devices = 0;
  cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess) return std::string("no CUDA device: ") + cudaGetErrorString(status);
  return devices == 0 ? "no CUDA device: none found" : "";
}

}  // namespace moeprof::testing
