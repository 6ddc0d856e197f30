#include <cuda_runtime.h>

#include "tests/gpu/trivial_kernels.h"

namespace moeprof::testing {

__global__ void addValueKernel(float* data, int count, float value) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) data[i] += value;
}

int launchAddValue(float* deviceData, int count, float value) {
  addValueKernel<<<addValueGrid(count), kAddValueBlock>>>(deviceData, count, value);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace moeprof::testing
