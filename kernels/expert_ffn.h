#pragma once
// Expert feed-forward networks (ReLU, as in fairseq and OPT): one FFN, all experts at once on a
// capacity-padded batch (static gating), or each expert on exactly its tokens (dynamic gating).
#include <vector>

#include <ATen/core/Tensor.h>

namespace moeprof::kernels {

// The weights of E experts of one MoE layer, stacked so that each expert's block is contiguous
// (what a tiered store moves as a unit). For a dense FFN, E = 1.
struct ExpertWeights {
  at::Tensor w1;  // (E, d_model, ffn)
  at::Tensor b1;  // (E, ffn)
  at::Tensor w2;  // (E, ffn, d_model)
  at::Tensor b2;  // (E, d_model)
  int64_t numExperts() const { return w1.size(0); }
  int64_t bytes() const;
};

// relu(x w1[e] + b1[e]) w2[e] + b2[e] for x of shape (tokens, d_model).
at::Tensor expertFfn(const ExpertWeights& weights, int64_t expert, const at::Tensor& x);

// All experts on a capacity-padded batch x of shape (E, C, d_model); padding is computed too.
at::Tensor batchedExpertFfn(const ExpertWeights& weights, const at::Tensor& x);

// Expert e on rows [offset_e, offset_e + counts[e]) of x, rows sorted by expert.
at::Tensor groupedExpertFfn(const ExpertWeights& weights, const at::Tensor& x,
                            const std::vector<int64_t>& counts);

}  // namespace moeprof::kernels
