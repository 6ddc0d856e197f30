#pragma once
// The names of a model's parameters, as checkpoints store them. They follow fairseq's and
// Hugging Face's module paths where the two agree (`decoder.layers.3.self_attn.q_proj.weight`,
// `final_layer_norm` for the norm before the FFN) so that a table mapping other layouts onto
// them stays short; shapes are moeprof's own: linear weights are (in, out), not PyTorch's
// (out, in), and a layer's experts are stacked (`moe.experts.w1` is (E, d_model, ffn)).
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "workloads/model/transformer.h"

namespace moeprof::workloads {

// A parameter and its name. The handle shares the model's storage: copying into it (loading a
// checkpoint) changes the model.
struct NamedParameter {
  std::string name;
  at::Tensor tensor;
};

// Appends the parameters of one block, each name prefixed (e.g. "decoder.layers.0.").
void appendBlockParameters(const BlockWeights& block, const std::string& prefix,
                           std::vector<NamedParameter>& out);
void appendLayerNormParameters(const LayerNormWeights& norm, const std::string& prefix,
                               std::vector<NamedParameter>& out);

}  // namespace moeprof::workloads
