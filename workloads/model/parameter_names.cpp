#include "workloads/model/parameter_names.h"

namespace moeprof::workloads {

namespace {

void appendAttention(const AttentionWeights& attention, const std::string& prefix,
                     std::vector<NamedParameter>& out) {
  const std::pair<const char*, const LinearWeights*> projections[] = {{"q_proj", &attention.query},
                                                                      {"k_proj", &attention.key},
                                                                      {"v_proj", &attention.value},
                                                                      {"out_proj", &attention.out}};
  for (const auto& [name, linear] : projections) {
    out.push_back({prefix + name + ".weight", linear->weight});
    if (linear->bias.defined()) out.push_back({prefix + name + ".bias", linear->bias});
  }
  if (attention.queryNorm.gamma.defined()) {
    appendLayerNormParameters(attention.queryNorm, prefix + "q_norm.", out);
    appendLayerNormParameters(attention.keyNorm, prefix + "k_norm.", out);
  }
}

void appendExperts(const kernels::ExpertWeights& experts, const std::string& prefix,
                   std::vector<NamedParameter>& out) {
  out.push_back({prefix + "w1", experts.w1});
  out.push_back({prefix + "b1", experts.b1});
  out.push_back({prefix + "w2", experts.w2});
  out.push_back({prefix + "b2", experts.b2});
}

}  // namespace

void appendLayerNormParameters(const LayerNormWeights& norm, const std::string& prefix,
                               std::vector<NamedParameter>& out) {
  out.push_back({prefix + "weight", norm.gamma});
  if (norm.beta.defined()) out.push_back({prefix + "bias", norm.beta});  // none: RMSNorm
}

void appendBlockParameters(const BlockWeights& block, const std::string& prefix,
                           std::vector<NamedParameter>& out) {
  appendLayerNormParameters(block.selfNorm, prefix + "self_attn_layer_norm.", out);
  appendAttention(block.self, prefix + "self_attn.", out);
  if (block.hasCross) {
    appendLayerNormParameters(block.crossNorm, prefix + "encoder_attn_layer_norm.", out);
    appendAttention(block.cross, prefix + "encoder_attn.", out);
  }
  appendLayerNormParameters(block.ffnNorm, prefix + "final_layer_norm.", out);
  if (block.moe) {
    out.push_back({prefix + "moe.router.weight", block.moeFfn.router});
    appendExperts(block.moeFfn.experts, prefix + "moe.experts.", out);
    if (block.moeFfn.shared.w1.defined()) {
      appendExperts(block.moeFfn.shared, prefix + "moe.shared_expert.", out);
      out.push_back({prefix + "moe.shared_expert_gate.weight", block.moeFfn.sharedGate});
    }
    if (block.moeFfn.pregate.defined()) {
      out.push_back({prefix + "moe.pregate.weight", block.moeFfn.pregate});
    }
  } else {
    appendExperts(block.denseFfn, prefix + "ffn.", out);
  }
}

}  // namespace moeprof::workloads
