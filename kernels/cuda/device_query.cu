#include <cuda_runtime.h>

#include "kernels/device_query.h"

namespace moeprof::kernels {

CudaAvailability queryCudaDevices() {
  CudaAvailability availability;
  availability.compiledWithCuda = true;
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    availability.reason = cudaGetErrorString(status);
    return availability;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp properties{};
    if (cudaGetDeviceProperties(&properties, i) != cudaSuccess) continue;
    availability.devices.push_back(
        {properties.name, properties.major, properties.minor, properties.totalGlobalMem});
  }
  if (availability.devices.empty()) availability.reason = "no CUDA device found";
  return availability;
}

}  // namespace moeprof::kernels
