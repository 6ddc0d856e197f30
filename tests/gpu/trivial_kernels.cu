#include <cuda_runtime.h>

#include "tests/gpu/trivial_kernels.h"

namespace moeprof::testing {

__global__ void addValueKernel(float* data, int count, float value) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) data[i] += value;
}

__device__ unsigned long long globalTimerNs() {
  unsigned long long ns;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
  return ns;
}

__global__ void spinThenCopyKernel(const unsigned char* source, unsigned char* target,
                                   unsigned long long bytes, unsigned long long spinNs) {
  if (threadIdx.x == 0) {
    const unsigned long long start = globalTimerNs();
    while (globalTimerNs() - start < spinNs) {
    }
  }
  __syncthreads();
  for (unsigned long long i = threadIdx.x; i < bytes; i += blockDim.x) target[i] = source[i];
}

int launchSpinThenCopy(const void* source, void* target, unsigned long long bytes,
                       unsigned long long spinNs) {
  spinThenCopyKernel<<<1, 256, 0, cudaStreamLegacy>>>(static_cast<const unsigned char*>(source),
                                                      static_cast<unsigned char*>(target), bytes,
                                                      spinNs);
  return static_cast<int>(cudaGetLastError());
}

int launchAddValue(float* deviceData, int count, float value) {
  addValueKernel<<<addValueGrid(count), kAddValueBlock>>>(deviceData, count, value);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace moeprof::testing
