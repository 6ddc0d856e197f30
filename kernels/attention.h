#pragma once
// Scaled dot-product attention over (batch, tokens, d_model) tensors whose heads are contiguous
// column blocks of d_model (what the Q/K/V projections produce). On the CPU, for float32
// inference, every (batch, head) pair is two strided CBLAS GEMMs and a row softmax (with a
// vectorizable exp) on raw pointers, in parallel over the pairs: no per-head views or copies, and
// one dispatcher call instead of the dozens ATen's bmm makes per batch element (which dominated
// operator traces). Causal attention goes by tiles of queries, skipping the masked key blocks.
// Otherwise (another device, another dtype, autograd, unusual strides) it is attentionAten.
#include <ATen/core/Tensor.h>

namespace moeprof::kernels {

// q: (B, T, d), k and v: (B, S, d); returns (B, T, d). With `causal`, query i (at absolute
// position S - T + i) sees keys up to that position.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
                     bool causal);

// The same with ATen operators (split heads, matmul, masked softmax, matmul): any device,
// differentiable; the reference the CPU kernel is tested against.
at::Tensor attentionAten(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         int64_t heads, bool causal);

}  // namespace moeprof::kernels
