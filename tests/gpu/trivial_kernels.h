#pragma once
// CUDA work with exactly predictable results for the GPU tests, compiled by nvcc apart from the
// tests so that the tests themselves stay plain C++ (LibTorch here has no CUDA).

namespace moeprof::testing {

// The kernel's grid for `count` elements (its block is kAddValueBlock threads).
inline constexpr int kAddValueBlock = 256;
inline int addValueGrid(int count) {
  return (count + kAddValueBlock - 1) / kAddValueBlock;
}

// Launches addValueKernel: adds `value` to each of the `count` floats at `deviceData`, on the
// default stream. Returns the launch's cudaError_t (0 = cudaSuccess).
int launchAddValue(float* deviceData, int count, float value);

// Launches one thread block on the legacy default stream (LibTorch's compute stream) that spins
// for `spinNs` of GPU time and then copies `bytes` from `source` to `target`: a kernel that
// still reads memory long after the host launched it. Returns the launch's cudaError_t.
int launchSpinThenCopy(const void* source, void* target, unsigned long long bytes,
                       unsigned long long spinNs);

}  // namespace moeprof::testing
