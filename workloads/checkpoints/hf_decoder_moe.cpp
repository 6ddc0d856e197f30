// Decoder-only top-k MoE families of Hugging Face onto LmModel: Mixtral (`mixtral`), OLMoE
// (`olmoe`) and Qwen2-MoE (`qwen2_moe`). All three are pre-norm with RMSNorm, rotary positions,
// grouped KV heads, SwiGLU experts without biases and an untied lm_head; they differ in the
// router's gate normalization (Mixtral always renormalizes the top k, the others when
// norm_topk_prob), OLMoE's RMSNorm on the query and key projections, and Qwen2-MoE's query /
// key / value biases and shared expert with a sigmoid gate.
#include <algorithm>
#include <stdexcept>
#include <string_view>

#include <ATen/ATen.h>

#include "workloads/checkpoints/hf_layout.h"

namespace moeprof::workloads {

namespace {

using nlohmann::json;
using GateNorm = ModelConfig::GateNorm;

constexpr int64_t kMaxDim = int64_t{1} << 24;

// What differs between the families, and Hugging Face's defaults for them.
struct DecoderFamily {
  const char* modelType;
  const char* architecture;
  const char* moePrefix;   // "block_sparse_moe." or "mlp."
  const char* expertsKey;  // the config key of the expert count
  const char* gatePiece;   // expert tensor names: gate, up, down
  const char* upPiece;
  const char* downPiece;
  int64_t dModel, ffnDim, layers, heads, kvHeads, vocab, maxPositions, experts, topK;
  double normEps, ropeTheta;
};

constexpr DecoderFamily kMixtral{"mixtral",
                                 "MixtralForCausalLM",
                                 "block_sparse_moe.",
                                 "num_local_experts",
                                 "w1",
                                 "w3",
                                 "w2",
                                 4096,
                                 14336,
                                 32,
                                 32,
                                 8,
                                 32000,
                                 4096 * 32,
                                 8,
                                 2,
                                 1e-5,
                                 1e6};
constexpr DecoderFamily kOlmoe{"olmoe",     "OlmoeForCausalLM",
                               "mlp.",      "num_experts",
                               "gate_proj", "up_proj",
                               "down_proj", 2048,
                               2048,        16,
                               16,          0,
                               50304,       4096,
                               64,          8,
                               1e-5,        10000.0};
constexpr DecoderFamily kQwen2Moe{"qwen2_moe", "Qwen2MoeForCausalLM",
                                  "mlp.",      "num_experts",
                                  "gate_proj", "up_proj",
                                  "down_proj", 2048,
                                  1408,        24,
                                  16,          16,
                                  151936,      32768,
                                  60,          4,
                                  1e-6,        10000.0};

const DecoderFamily& familyOf(HfFamily family) {
  switch (family) {
    case HfFamily::Mixtral:
      return kMixtral;
    case HfFamily::Olmoe:
      return kOlmoe;
    case HfFamily::Qwen2Moe:
      return kQwen2Moe;
    case HfFamily::NllbMoe:
    case HfFamily::SwitchTransformers:
      break;
  }
  throw std::logic_error("not a decoder-only family");
}

void requireSupportedOptions(const HfConfigReader& r, HfFamily family, const ModelConfig& c) {
  auto activation = r.text("hidden_act", "silu");
  r.require("hidden_act", activation == "silu", activation, "silu");
  if (r.present("rope_scaling")) r.require("rope_scaling", false, "set", "null");
  if (r.present("head_dim")) {
    int64_t headDim = r.integer("head_dim", 1, kMaxDim);
    r.require("head_dim", headDim == c.dModel / c.heads, std::to_string(headDim),
              "hidden_size / num_attention_heads = " + std::to_string(c.dModel / c.heads));
  }
  if (family == HfFamily::Mixtral && r.present("sliding_window")) {
    int64_t window = r.integer("sliding_window", 1, int64_t{1} << 40);
    r.require("sliding_window", window >= c.maxPositions, std::to_string(window),
              "null or at least max_position_embeddings (a window that never masks)");
  }
  if (family == HfFamily::Olmoe && r.present("clip_qkv"))
    r.require("clip_qkv", false, "set", "null");
  if (family == HfFamily::Qwen2Moe) {
    bool sliding = r.flag("use_sliding_window", false);
    r.require("use_sliding_window", !sliding, "true", "false");
    int64_t step = r.integer("decoder_sparse_step", 1, kMaxDim, 1);
    r.require("decoder_sparse_step", step == 1, std::to_string(step),
              "1 (every layer sparse; dense layers of another width are not implemented)");
    r.require("mlp_only_layers", r.emptyList("mlp_only_layers"), "non-empty", "[]");
  }
}

void setVariants(const HfConfigReader& r, HfFamily family, ModelConfig& c) {
  c.rmsNorm = true;
  c.swiGlu = true;
  c.tiedOutput = r.flag("tie_word_embeddings", false);
  c.qkvBias = c.outBias = false;
  if (family == HfFamily::Mixtral) {
    c.gateNorm = GateNorm::Renormalize;
  } else {
    c.gateNorm = r.flag("norm_topk_prob", false) ? GateNorm::Renormalize : GateNorm::Raw;
  }
  if (family == HfFamily::Olmoe) {
    c.qkNorm = true;
    c.qkvBias = c.outBias = r.flag("attention_bias", false);
  }
  if (family == HfFamily::Qwen2Moe) {
    c.qkvBias = true;  // Qwen2MoeAttention: q, k, v with bias, o_proj without
    c.sharedExpertFfnDim = r.integer("shared_expert_intermediate_size", 0, kMaxDim, 5632);
  }
}

std::string expertPiece(const DecoderFamily& f, int piece) {
  return piece == 0 ? f.gatePiece : piece == 1 ? f.upPiece : f.downPiece;
}

// One SwiGLU FFN (stacked moeprof tensors w1 = [gate | up], w2 = down) as Hugging Face's
// per-expert gate / up / down projections; the zero biases b1, b2 are not stored.
void addSwiGluBindings(const std::string& prefix, const std::string& piece,
                       const at::Tensor& stacked, const DecoderFamily& f, bool perExpert,
                       HfLayout& layout) {
  if (piece == "b1" || piece == "b2") return;
  for (int64_t e = 0; e < stacked.size(0); ++e) {
    std::string expert = perExpert ? prefix + std::to_string(e) + "." : prefix;
    if (piece == "w1") {
      const int64_t ffn = stacked.size(2) / 2;
      layout.tensors.push_back(
          {expert + expertPiece(f, 0) + ".weight", stacked[e].narrow(1, 0, ffn), true});
      layout.tensors.push_back(
          {expert + expertPiece(f, 1) + ".weight", stacked[e].narrow(1, ffn, ffn), true});
    } else if (piece == "w2") {
      layout.tensors.push_back({expert + expertPiece(f, 2) + ".weight", stacked[e], true});
    } else {
      throw std::logic_error("unexpected expert tensor " + piece);
    }
  }
}

void addBlockBinding(const std::string& prefix, const std::string& tail, const at::Tensor& tensor,
                     const DecoderFamily& f, HfLayout& layout) {
  const std::string moe = prefix + f.moePrefix;
  if (tail == "moe.router.weight") {
    layout.tensors.push_back({moe + "gate.weight", tensor, true});
  } else if (tail.starts_with("moe.experts.")) {
    addSwiGluBindings(moe + "experts.", tail.substr(12), tensor, f, true, layout);
  } else if (tail.starts_with("moe.shared_expert.")) {
    addSwiGluBindings(moe + "shared_expert.", tail.substr(18), tensor, f, false, layout);
  } else if (tail == "moe.shared_expert_gate.weight") {
    layout.tensors.push_back({moe + "shared_expert_gate.weight", tensor, true});
  } else if (tail == "self_attn_layer_norm.weight") {
    layout.tensors.push_back({prefix + "input_layernorm.weight", tensor, false});
  } else if (tail == "final_layer_norm.weight") {
    layout.tensors.push_back({prefix + "post_attention_layernorm.weight", tensor, false});
  } else if (tail.starts_with("self_attn.")) {
    std::string name = tail;
    if (name.starts_with("self_attn.out_proj.")) name = "self_attn.o_proj." + name.substr(19);
    layout.tensors.push_back({prefix + name, tensor, name.ends_with("_proj.weight")});
  } else {
    throw std::logic_error("unexpected LM block parameter " + tail);
  }
}

}  // namespace

ModelConfig decoderMoeModelConfig(const HfConfigReader& r, HfFamily family) {
  const auto& f = familyOf(family);
  ModelConfig c;
  c.workload = WorkloadKind::Lm;
  c.dModel = r.integer("hidden_size", 1, kMaxDim, f.dModel);
  c.ffnDim = r.integer(family == HfFamily::Qwen2Moe ? "moe_intermediate_size" : "intermediate_size",
                       1, kMaxDim, f.ffnDim);
  c.layers = r.integer("num_hidden_layers", 1, 4096, f.layers);
  c.heads = r.integer("num_attention_heads", 1, c.dModel, f.heads);
  if (c.dModel % c.heads != 0 || (c.dModel / c.heads) % 2 != 0) {
    r.fail("num_attention_heads " + std::to_string(c.heads) + " does not divide hidden_size " +
           std::to_string(c.dModel) + " into heads of an even size (rotary positions need one)");
  }
  c.kvHeads = r.integer("num_key_value_heads", 1, c.heads, f.kvHeads > 0 ? f.kvHeads : c.heads);
  if (c.heads % c.kvHeads != 0) {
    r.fail("num_key_value_heads " + std::to_string(c.kvHeads) +
           " does not divide num_attention_heads " + std::to_string(c.heads));
  }
  c.vocab = r.integer("vocab_size", 1, kMaxDim, f.vocab);
  c.maxPositions = r.integer("max_position_embeddings", 1, int64_t{1} << 30, f.maxPositions);
  c.numExperts = r.integer(f.expertsKey, 1, 1 << 20, f.experts);
  c.topK = r.integer("num_experts_per_tok", 1, c.numExperts, std::min(f.topK, c.numExperts));
  c.moe = true;
  c.moeEvery = 1;
  c.capacityFactor = 1.0;  // these families drop no tokens: static gating's C = S
  c.normEps = r.number("rms_norm_eps", 0.0, 1.0, f.normEps);
  c.ropeTheta = r.number("rope_theta", 1e-6, 1e30, f.ropeTheta);
  requireSupportedOptions(r, family, c);
  setVariants(r, family, c);
  c.defaultBatch = 4;
  c.defaultSeqLen = std::min<int64_t>(32, c.maxPositions);
  return c;
}

ModelConfig decoderMoeCompatible(ModelConfig c, HfFamily family) {
  const auto& f = familyOf(family);
  c.moe = true;
  c.moeEvery = 1;
  c.capacityFactor = 1.0;  // dropless, as the config read back says (static gating's C = S)
  c.rmsNorm = true;
  c.swiGlu = true;
  c.normEps = f.normEps;
  c.ropeTheta = f.ropeTheta;
  c.kvHeads = family == HfFamily::Mixtral && c.heads % 2 == 0 ? c.heads / 2 : c.heads;
  c.tiedOutput = false;
  c.qkvBias = family == HfFamily::Qwen2Moe;
  c.outBias = false;
  c.qkNorm = family == HfFamily::Olmoe;
  c.gateNorm = family == HfFamily::Mixtral ? GateNorm::Renormalize : GateNorm::Raw;
  c.sharedExpertFfnDim = family == HfFamily::Qwen2Moe ? 2 * c.ffnDim : 0;
  return c;
}

json decoderMoeConfigJson(const ModelConfig& c, HfFamily family) {
  const auto& f = familyOf(family);
  auto refuse = [&](const std::string& why) {
    throw std::invalid_argument("cannot save " + c.name + " as " + f.modelType + ": " + why);
  };
  if (c.workload != WorkloadKind::Lm || !c.moe || c.moeEvery != 1 || !c.rmsNorm || !c.swiGlu ||
      c.ropeTheta <= 0) {
    refuse("it is not a rotary, RMSNorm, SwiGLU model with every block MoE (hfCompatibleConfig)");
  }
  if (c.qkNorm != (family == HfFamily::Olmoe)) refuse("query/key norms are OLMoE's only");
  const bool biasesFit = family == HfFamily::Mixtral ? !c.qkvBias && !c.outBias
                         : family == HfFamily::Olmoe ? c.qkvBias == c.outBias
                                                     : c.qkvBias && !c.outBias;
  if (!biasesFit) refuse("its attention biases differ from the family's");
  if (c.gateNorm == GateNorm::Fairseq ||
      (family == HfFamily::Mixtral && c.gateNorm != GateNorm::Renormalize)) {
    refuse("its gate weights are normalized another way");
  }
  if (family != HfFamily::Qwen2Moe && c.sharedExpertFfnDim > 0) {
    refuse("shared experts are Qwen2-MoE's");
  }
  json config = {{"architectures", {f.architecture}},
                 {"model_type", f.modelType},
                 {"hidden_size", c.dModel},
                 {"num_hidden_layers", c.layers},
                 {"num_attention_heads", c.heads},
                 {"num_key_value_heads", c.kvHeadCount()},
                 {"head_dim", c.dModel / c.heads},
                 {"vocab_size", c.vocab},
                 {"max_position_embeddings", c.maxPositions},
                 {"rms_norm_eps", c.normEps},
                 {"rope_theta", c.ropeTheta},
                 {"rope_scaling", nullptr},
                 {"hidden_act", "silu"},
                 {"tie_word_embeddings", c.tiedOutput},
                 {"attention_dropout", 0.0},
                 {"initializer_range", 0.02},
                 {"use_cache", true},
                 {f.expertsKey, c.numExperts},
                 {"num_experts_per_tok", c.topK},
                 {"output_router_logits", false},
                 {"router_aux_loss_coef", 0.001}};
  if (family == HfFamily::Mixtral) {
    config["intermediate_size"] = c.ffnDim;
    config["sliding_window"] = nullptr;
    config["router_jitter_noise"] = 0.0;
  } else {
    config["norm_topk_prob"] = c.gateNorm == GateNorm::Renormalize;
  }
  if (family == HfFamily::Olmoe) {
    config["intermediate_size"] = c.ffnDim;
    config["attention_bias"] = c.qkvBias;
    config["clip_qkv"] = nullptr;
  }
  if (family == HfFamily::Qwen2Moe) {
    config["moe_intermediate_size"] = c.ffnDim;
    config["intermediate_size"] = c.sharedExpertFfnDim > 0 ? c.sharedExpertFfnDim : c.ffnDim;
    config["shared_expert_intermediate_size"] = c.sharedExpertFfnDim;
    config["decoder_sparse_step"] = 1;
    config["mlp_only_layers"] = json::array();
    config["use_sliding_window"] = false;
  }
  return config;
}

HfLayout decoderMoeLayout(const std::vector<NamedParameter>& parameters, HfFamily family) {
  const auto& f = familyOf(family);
  HfLayout layout;
  for (const auto& p : parameters) {
    if (p.name == "embed_tokens.weight") {
      layout.tensors.push_back({"model.embed_tokens.weight", p.tensor, false});
      layout.tiedCopies.push_back({"lm_head.weight", "model.embed_tokens.weight"});
    } else if (p.name == "lm_head.weight") {
      layout.tiedCopies.clear();
      layout.tensors.push_back({"lm_head.weight", p.tensor, false});
    } else if (p.name == "decoder.layer_norm.weight") {
      layout.tensors.push_back({"model.norm.weight", p.tensor, false});
    } else if (p.name.starts_with("decoder.layers.")) {
      const auto blockEnd = p.name.find('.', 15);
      addBlockBinding("model.layers." + p.name.substr(15, blockEnd - 15) + ".",
                      p.name.substr(blockEnd + 1), p.tensor, f, layout);
    } else {
      throw std::logic_error("unexpected LM parameter " + p.name);
    }
  }
  return layout;
}

}  // namespace moeprof::workloads
