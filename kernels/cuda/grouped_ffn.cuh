#pragma once
// The grouped expert FFN on a CUDA device, as kernels/expert_ffn.cpp's groupedExpertFfn: rows
// [offsets[e], offsets[e + 1]) of x (sorted by expert, as launchDynamicRouting groups them) go
// through expert e: out = relu(x w1[e] + b1[e]) w2[e] + b2[e] (relu keeps NaN, as at::relu).
//
// Which GEMM: a tiled SGEMM kernel of moeprof's own, one launch per layer of the FFN over all
// groups (each 64-row tile of a group is one block row; a small scan turns the device-side
// offsets into the tile map). Not cuBLAS, for three reasons: (1) the group sizes come from the
// dispatch kernels and stay on the device, while cublasGemmGroupedBatchedEx (CUDA 12.5+, present
// in CUDA 13) takes m/n/k per group in host arrays, which would cost a device-to-host copy and a
// synchronization per MoE layer; per-group cublasSgemm calls would add E launches as well; (2)
// moeprof links the CUDA runtime statically so that one binary starts without a driver, and
// cuBLAS would add a large library (static) or a runtime dependency (shared); (3) the experts
// measured here are small (d_model 64, FFN 256, 1-12 rows each), where launch and tile-map
// overheads matter more than peak GEMM efficiency. Comparing against cuBLAS on a GPU is one of
// the checks docs/gpu.md lists as open. float32, bf16 and fp16; all pointers are device memory.
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace moeprof::kernels::cuda {

template <typename T>
struct ExpertWeightsDeviceOf {
  const T* w1;  // (E, d_model, ffn)
  const T* b1;  // (E, ffn)
  const T* w2;  // (E, ffn, d_model)
  const T* b2;  // (E, d_model)
};
using ExpertWeightsDevice = ExpertWeightsDeviceOf<float>;

// int32 elements of workspace (the tile map) launchGroupedExpertFfn needs.
int64_t groupedExpertFfnWorkspace(int64_t experts);

// x (rows, d_model); offsets (E + 1) on the device, offsets[E] = rows; hidden (rows, ffn) is
// scratch; out (rows, d_model). T is float, __nv_bfloat16 or __half: the half-precision variants
// load and store T and accumulate in float (hidden is stored in T between the two GEMMs, as an
// ATen loop in that dtype does).
template <typename T>
cudaError_t launchGroupedExpertFfn(const ExpertWeightsDeviceOf<T>& weights, const T* x,
                                   const int32_t* offsets, int64_t rows, int64_t experts,
                                   int64_t dModel, int64_t ffn, T* hidden, T* out,
                                   int32_t* workspace, cudaStream_t stream);

extern template cudaError_t launchGroupedExpertFfn<float>(const ExpertWeightsDeviceOf<float>&,
                                                          const float*, const int32_t*, int64_t,
                                                          int64_t, int64_t, int64_t, float*, float*,
                                                          int32_t*, cudaStream_t);
extern template cudaError_t launchGroupedExpertFfn<__nv_bfloat16>(
    const ExpertWeightsDeviceOf<__nv_bfloat16>&, const __nv_bfloat16*, const int32_t*, int64_t,
    int64_t, int64_t, int64_t, __nv_bfloat16*, __nv_bfloat16*, int32_t*, cudaStream_t);
extern template cudaError_t launchGroupedExpertFfn<__half>(const ExpertWeightsDeviceOf<__half>&,
                                                           const __half*, const int32_t*, int64_t,
                                                           int64_t, int64_t, int64_t, __half*,
                                                           __half*, int32_t*, cudaStream_t);

}  // namespace moeprof::kernels::cuda
