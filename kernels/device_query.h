#pragma once
// Which CUDA devices this process can use, asked of the CUDA runtime directly (LibTorch may be a
// CPU-only build even where a GPU exists).
#include <string>
#include <vector>

namespace moeprof::kernels {

struct CudaDeviceInfo {
  std::string name;
  int computeMajor = 0;
  int computeMinor = 0;
  size_t totalMemoryBytes = 0;
};

struct CudaAvailability {
  bool compiledWithCuda = false;
  std::vector<CudaDeviceInfo> devices;
  std::string reason;  // why there is no device, when there is none
};

CudaAvailability queryCudaDevices();

}  // namespace moeprof::kernels
