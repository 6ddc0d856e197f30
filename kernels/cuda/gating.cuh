#pragma once
// Top-k gating on a CUDA device, as kernels/gating.cpp's topKGating with SecondExpert::All:
// softmax over the E experts of each token, the k most probable experts (best first), and
// their gate weights (top-1: the probability itself; k >= 2: the k probabilities divided by
// their sum, clamped below at FLT_EPSILON). Ties between equal probabilities go to the lower
// expert id; at::topk on the CPU does not promise an order for ties, so the GPU test accepts a
// swap between experts of equal probability. float32; expert ids are int32.
#include <cstdint>

#include <cuda_runtime.h>

namespace moeprof::kernels::cuda {

inline constexpr int kMaxTopK = 32;

// logits (S, E), row-major, on the device; writes probs (S, E), expertIds (S, k) and
// gateWeights (S, k). One warp per token. k in [1, min(E, kMaxTopK)].
cudaError_t launchTopKGating(const float* logits, int64_t tokens, int64_t experts, int topK,
                             float* probs, int32_t* expertIds, float* gateWeights,
                             cudaStream_t stream);

}  // namespace moeprof::kernels::cuda
