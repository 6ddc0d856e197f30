#pragma once
// Expert feed-forward networks (ReLU, as in fairseq and OPT): one FFN, all experts at once on a
// capacity-padded batch (static gating), or each expert on exactly its tokens (dynamic gating).
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>

namespace moeprof::kernels {

// The weights of one expert: views into ExpertWeights, or a slot of a tiered expert store.
struct ExpertView {
  at::Tensor w1;  // (d_model, ffn)
  at::Tensor b1;  // (ffn)
  at::Tensor w2;  // (ffn, d_model)
  at::Tensor b2;  // (d_model)
};

// The weights of E experts of one MoE layer, stacked so that each expert's block is contiguous
// (what a tiered store moves as a unit). For a dense FFN, E = 1.
struct ExpertWeights {
  at::Tensor w1;  // (E, d_model, ffn)
  at::Tensor b1;  // (E, ffn)
  at::Tensor w2;  // (E, ffn, d_model)
  at::Tensor b2;  // (E, d_model)
  int64_t numExperts() const { return w1.size(0); }
  int64_t bytes() const;
  ExpertView expert(int64_t e) const { return {w1[e], b1[e], w2[e], b2[e]}; }
};

// Hands out expert e's weights when its tokens are about to run (may wait for a transfer).
using ExpertProvider = std::function<ExpertView(int64_t expert)>;

// relu(x w1[e] + b1[e]) w2[e] + b2[e] for x of shape (tokens, d_model).
at::Tensor expertFfn(const ExpertWeights& weights, int64_t expert, const at::Tensor& x);

// All experts on a capacity-padded batch x of shape (E, C, d_model); padding is computed too.
at::Tensor batchedExpertFfn(const ExpertWeights& weights, const at::Tensor& x);

// Expert e on rows [offset_e, offset_e + counts[e]) of x, rows sorted by expert. Experts run in
// increasing id order and only those with tokens are asked for. On the CPU, for float32
// inference, each expert is two CBLAS GEMMs on raw pointers writing into one output: a MoE layer
// with hundreds of small experts then costs a handful of dispatcher calls instead of about 15 per
// expert (the views, addmm, relu), and no per-expert temporaries. At prefill shapes the ATen loop
// measured faster (docs/benchmarks.md) but holds more activation memory, enough to turn dynamic
// gating's activation saving into a cost at lm-tiny, so the kernel runs at every shape.
// Otherwise (another device, another dtype) it is groupedExpertFfnAten; under autograd
// (training) the stacked-weights overload runs the experts with tokens as one padded batched
// matmul, which backward handles in a few calls.
at::Tensor groupedExpertFfn(const ExpertProvider& experts, const at::Tensor& x,
                            const std::vector<int64_t>& counts);
at::Tensor groupedExpertFfn(const ExpertWeights& weights, const at::Tensor& x,
                            const std::vector<int64_t>& counts);

// The CBLAS kernel on its own (contiguous float32 CPU tensors, no autograd; throws otherwise):
// what groupedExpertFfn runs for CPU inference, for tests and benchmarks.
at::Tensor groupedExpertFfnCblas(const ExpertWeights& weights, const at::Tensor& x,
                                 const std::vector<int64_t>& counts);

// The same computed with ATen operators, expert by expert: any device, differentiable; the
// reference the CPU kernel is tested against.
at::Tensor groupedExpertFfnAten(const ExpertProvider& experts, const at::Tensor& x,
                                const std::vector<int64_t>& counts);

}  // namespace moeprof::kernels
