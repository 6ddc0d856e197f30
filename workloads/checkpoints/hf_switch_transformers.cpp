// SwitchTransformers (Hugging Face SwitchTransformersForConditionalGeneration, the T5 family
// with Switch MoE layers) onto MtModel. What differs from moeprof's own MT model is set as
// ModelConfig variants: T5's RMS layer norm (no mean, no bias), no biases on attention and FFN
// projections, learned relative position biases bucketed as T5 (in the first block of each
// stack, shared by the stack; none on cross-attention) instead of sinusoidal positions, no
// 1/sqrt(head dim) attention scaling, unscaled embeddings, top-1 routing whose chosen expert's
// probability scales its output, sparse blocks 1, 1 + step, ... (every block for a step of 1),
// the decoder output scaled by d_model^-0.5 before a tied lm_head, decoding from the pad token.
//
// Not modelled: Hugging Face applies expert_capacity per sequence at inference too (a token past
// an expert's capacity in its sequence skips the FFN); moeprof's dynamic gating has no capacity,
// so it computes what Hugging Face does whenever no expert gets more than expert_capacity tokens
// of one sequence (always for sequences of at most expert_capacity tokens). Static gating uses
// moeprof's capacity factor, not expert_capacity. Router jitter, z-loss and the auxiliary loss
// are training-only; padding (attention masks) is not modelled.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string_view>

#include <ATen/ATen.h>

#include "workloads/checkpoints/hf_layout.h"
#include "workloads/model/models.h"

namespace moeprof::workloads {

namespace {

using nlohmann::json;

constexpr int64_t kMaxDim = int64_t{1} << 24;
constexpr const char* kModelType = "switch_transformers";
constexpr int64_t kDefaultBuckets = 32;       // SwitchTransformersConfig's defaults
constexpr int64_t kDefaultMaxDistance = 128;  //
constexpr double kDefaultNormEps = 1e-6;
constexpr int64_t kDefaultExpertCapacity = 64;
constexpr int64_t kDefaultPositions = 512;  // T5's n_positions: what the models were trained on

// Hugging Face's sparse blocks: i % step == 1, or all of them for a step of 1.
int64_t firstSparseBlock(int64_t step) {
  return step == 1 ? 0 : 1;
}

void requireSupportedOptions(const HfConfigReader& r) {
  auto activation = r.text("dense_act_fn", "relu");
  r.require("dense_act_fn", activation == "relu", activation, "relu");
  auto projection = r.text("feed_forward_proj", "relu");  // older configs' name for it
  r.require("feed_forward_proj", projection == "relu", projection, "relu");
  auto routerDtype = r.text("router_dtype", "float32");
  r.require("router_dtype", routerDtype == "float32", routerDtype, "float32");
  bool routerBias = r.flag("router_bias", false);
  r.require("router_bias", !routerBias, "true", "false");
  int64_t selected = r.integer("num_selected_experts", 1, 1 << 20, 1);
  r.require("num_selected_experts", selected == 1, std::to_string(selected),
            "1 (Switch routing is top-1)");
  bool encoderDecoder = r.flag("is_encoder_decoder", true);
  r.require("is_encoder_decoder", encoderDecoder, "false", "true");
  r.integer("expert_capacity", 1, kMaxDim, kDefaultExpertCapacity);  // checked, not modelled
}

// The sparse step of one stack: the stored *_sparse_step when there (Hugging Face's config
// keeps it over the one it derives), else num_layers // num_sparse_*_layers (0: none sparse).
int64_t sparseStep(const HfConfigReader& r, const char* stepKey, const char* sparseKey,
                   int64_t layers) {
  if (r.present(stepKey)) return r.integer(stepKey, 0, kMaxDim);
  int64_t sparse = r.integer(sparseKey, 0, kMaxDim, 3);
  return sparse > 0 ? layers / sparse : 0;
}

void setRouting(const HfConfigReader& r, ModelConfig& c) {
  int64_t encoder = sparseStep(r, "encoder_sparse_step", "num_sparse_encoder_layers", c.layers);
  int64_t decoder = sparseStep(r, "decoder_sparse_step", "num_sparse_decoder_layers", c.layers);
  if (encoder != decoder) {
    r.fail("the encoder's sparse step " + std::to_string(encoder) + " and the decoder's " +
           std::to_string(decoder) +
           " differ (num_sparse_*_layers / *_sparse_step); moeprof's MT model needs them equal");
  }
  c.moe = encoder > 0 && c.layers > firstSparseBlock(encoder);
  // A step past the last block leaves block 1 alone sparse, as a step of num_layers does.
  c.moeEvery = c.moe ? (encoder == 1 ? 1 : std::min(encoder, c.layers)) : 1;
  c.moeFirstBlock = c.moe ? firstSparseBlock(encoder) : -1;
  c.numExperts = c.moe ? r.integer("num_experts", 1, 1 << 20, 8) : 1;
  c.topK = 1;
  c.capacityFactor = 1.0;  // moeprof's static gating; expert_capacity is not modelled
}

void setT5Variants(const HfConfigReader& r, ModelConfig& c) {
  c.rmsNorm = true;
  c.normEps = r.number("layer_norm_epsilon", 0.0, 1.0, kDefaultNormEps);
  c.qkvBias = c.outBias = false;
  c.scaleAttention = false;
  c.scaleEmbedding = false;
  c.relativeAttentionBuckets =
      r.integer("relative_attention_num_buckets", 4, 1 << 16, kDefaultBuckets);
  c.relativeAttentionMaxDistance =
      r.integer("relative_attention_max_distance", c.relativeAttentionBuckets / 2 + 1, kMaxDim,
                kDefaultMaxDistance);
  c.tiedOutput = r.flag("tie_word_embeddings", true);
  c.outputHiddenScale = c.tiedOutput ? std::pow(static_cast<double>(c.dModel), -0.5) : 1.0;
  const int64_t pad = r.integer("pad_token_id", 0, c.vocab - 1, 0);
  c.decoderStartToken = r.integer("decoder_start_token_id", 0, c.vocab - 1, pad);
}

// One block parameter ("self_attn.q_proj.weight" after "encoder.layers.3."), as the HF name
// under "encoder.block.3.". The FFN is layer 1 in the encoder, layer 2 in the decoder.
void addBlockBinding(const std::string& prefix, const std::string& tail, bool decoder,
                     const at::Tensor& tensor, HfLayout& layout) {
  const std::string ffn = prefix + (decoder ? "layer.2." : "layer.1.");
  static constexpr std::pair<std::string_view, std::string_view> kProjections[] = {
      {"q_proj.weight", "q.weight"},
      {"k_proj.weight", "k.weight"},
      {"v_proj.weight", "v.weight"},
      {"out_proj.weight", "o.weight"}};
  auto attention = [&](const std::string& module, const std::string& projection) {
    for (const auto& [ours, theirs] : kProjections) {
      if (projection == ours) {
        layout.tensors.push_back({module + std::string(theirs), tensor, true});
        return;
      }
    }
    throw std::invalid_argument("parameter '" + prefix + tail + "' has no " + kModelType +
                                " name (attention biases?)");
  };
  auto experts = [&](const std::string& module, const std::string& piece, bool perExpert) {
    if (piece == "b1" || piece == "b2") return;  // zero: T5's FFNs have no biases
    if (piece != "w1" && piece != "w2") throw std::logic_error("unexpected FFN tensor " + piece);
    const std::string name = piece == "w1" ? "wi.weight" : "wo.weight";
    for (int64_t e = 0; e < tensor.size(0); ++e) {
      std::string expert = perExpert ? module + "expert_" + std::to_string(e) + "." : module;
      layout.tensors.push_back({expert + name, tensor[e], true});
    }
  };
  if (tail == "self_attn_layer_norm.weight") {
    layout.tensors.push_back({prefix + "layer.0.layer_norm.weight", tensor, false});
  } else if (tail.starts_with("self_attn.")) {
    attention(prefix + "layer.0.SelfAttention.", tail.substr(10));
  } else if (tail == "encoder_attn_layer_norm.weight") {
    layout.tensors.push_back({prefix + "layer.1.layer_norm.weight", tensor, false});
  } else if (tail.starts_with("encoder_attn.")) {
    attention(prefix + "layer.1.EncDecAttention.", tail.substr(13));
  } else if (tail == "final_layer_norm.weight") {
    layout.tensors.push_back({ffn + "layer_norm.weight", tensor, false});
  } else if (tail == "moe.router.weight") {
    layout.tensors.push_back({ffn + "mlp.router.classifier.weight", tensor, true});
  } else if (tail.starts_with("moe.experts.")) {
    experts(ffn + "mlp.experts.", tail.substr(12), true);
  } else if (tail.starts_with("ffn.")) {
    experts(ffn + "mlp.", tail.substr(4), false);
  } else {
    throw std::invalid_argument("parameter '" + prefix + tail + "' has no " + kModelType +
                                " name (pre-gates, layer norm biases?)");
  }
}

}  // namespace

ModelConfig switchModelConfig(const HfConfigReader& r) {
  requireSupportedOptions(r);
  ModelConfig c;
  c.workload = WorkloadKind::Mt;
  c.dModel = r.integer("d_model", 1, kMaxDim, 768);
  c.heads = r.integer("num_heads", 1, kMaxDim, 12);
  const int64_t headDim = r.integer("d_kv", 1, kMaxDim, 64);
  if (headDim * c.heads != c.dModel) {
    r.fail("num_heads " + std::to_string(c.heads) + " x d_kv " + std::to_string(headDim) +
           " differs from d_model " + std::to_string(c.dModel) +
           "; moeprof's attention needs num_heads x d_kv = d_model");
  }
  c.ffnDim = r.integer("d_ff", 1, kMaxDim, 2048);
  c.vocab = r.integer("vocab_size", 1, kMaxDim, 32128);
  c.layers = r.integer("num_layers", 1, 4096, 12);
  const int64_t decoderLayers = r.integer("num_decoder_layers", 1, 4096, c.layers);
  if (decoderLayers != c.layers) {
    r.fail("num_layers " + std::to_string(c.layers) + " and num_decoder_layers " +
           std::to_string(decoderLayers) + " differ; moeprof's MT model needs them equal");
  }
  c.maxPositions = r.integer("n_positions", 1, kMaxDim, kDefaultPositions);
  setRouting(r, c);
  setT5Variants(r, c);
  c.defaultBatch = 8;
  c.defaultSeqLen = std::min<int64_t>(32, c.maxPositions);
  c.defaultDecodeSteps = std::min<int64_t>(16, c.maxPositions);
  return c;
}

ModelConfig switchCompatible(ModelConfig c) {
  c.rmsNorm = true;
  c.normEps = kDefaultNormEps;
  c.qkvBias = c.outBias = false;
  c.scaleAttention = false;
  c.scaleEmbedding = false;
  c.positionOffset = 0;
  c.relativeAttentionBuckets = kDefaultBuckets;
  c.relativeAttentionMaxDistance = kDefaultMaxDistance;
  c.tiedOutput = true;
  c.outputHiddenScale = std::pow(static_cast<double>(c.dModel), -0.5);
  c.decoderStartToken = 0;
  c.expertOutputScale = 1.0;
  c.gateNorm = ModelConfig::GateNorm::Fairseq;
  if (c.moe) {
    c.topK = 1;
    c.moeFirstBlock = firstSparseBlock(c.moeEvery);
  }
  return c;
}

namespace {

// Why `c` has no SwitchTransformers config.json; empty when it has one.
std::string switchMismatch(const ModelConfig& c) {
  if (c.workload != WorkloadKind::Mt) return "it is not an MT model";
  if (!c.rmsNorm || c.qkvBias || c.outBias || c.scaleAttention || c.scaleEmbedding ||
      c.relativeAttentionBuckets == 0 || c.positionOffset != 0) {
    return "it lacks T5's RMS norm, bias-free unscaled attention or relative positions "
           "(hfCompatibleConfig)";
  }
  if (c.swiGlu || c.qkNorm || c.kvHeadCount() != c.heads || c.sharedExpertFfnDim > 0 ||
      c.ropeTheta > 0 || c.expertOutputScale != 1.0) {
    return "it has a variant SwitchTransformers does not";
  }
  if (c.moe && (c.topK != 1 || c.moeFirstBlock != firstSparseBlock(c.moeEvery) ||
                c.gateNorm == ModelConfig::GateNorm::Renormalize)) {
    return "its routing is not top-1 on blocks 1, 1 + step, ... (all for step 1)";
  }
  const double tiedScale = std::pow(static_cast<double>(c.dModel), -0.5);
  if (c.outputHiddenScale != (c.tiedOutput ? tiedScale : 1.0)) {
    return "its output scale is not d_model^-0.5 with tied embeddings and 1 without";
  }
  return {};
}

}  // namespace

json switchConfigJson(const ModelConfig& c) {
  if (auto why = switchMismatch(c); !why.empty()) {
    throw std::invalid_argument("cannot save " + c.name + " as " + kModelType + ": " + why);
  }
  const int64_t sparseLayers = c.moeBlocksPerStack(), step = c.moe ? c.moeEvery : 0;
  return {{"architectures", {"SwitchTransformersForConditionalGeneration"}},
          {"model_type", kModelType},
          {"is_encoder_decoder", true},
          {"vocab_size", c.vocab},
          {"d_model", c.dModel},
          {"d_kv", c.dModel / c.heads},
          {"d_ff", c.ffnDim},
          {"num_heads", c.heads},
          {"num_layers", c.layers},
          {"num_decoder_layers", c.layers},
          {"num_sparse_encoder_layers", sparseLayers},
          {"num_sparse_decoder_layers", sparseLayers},
          {"encoder_sparse_step", step},
          {"decoder_sparse_step", step},
          {"num_experts", c.numExperts},
          {"expert_capacity", kDefaultExpertCapacity},
          {"router_bias", false},
          {"router_jitter_noise", 0.01},
          {"router_dtype", "float32"},
          {"router_ignore_padding_tokens", false},
          {"router_z_loss_coef", 0.001},
          {"router_aux_loss_coef", 0.001},
          {"relative_attention_num_buckets", c.relativeAttentionBuckets},
          {"relative_attention_max_distance", c.relativeAttentionMaxDistance},
          {"layer_norm_epsilon", c.normEps},
          {"dense_act_fn", "relu"},
          {"dropout_rate", 0.1},
          {"initializer_factor", 1.0},
          {"add_router_probs", false},
          {"use_cache", true},
          {"tie_word_embeddings", c.tiedOutput},
          {"pad_token_id", c.decoderStartToken},
          {"eos_token_id", 1},
          {"decoder_start_token_id", c.decoderStartToken}};
}

HfLayout switchLayout(const std::vector<NamedParameter>& parameters) {
  HfLayout layout;
  bool tied = true;
  for (const auto& p : parameters) {
    if (p.name == "embed_tokens.weight") {
      layout.tensors.push_back({"shared.weight", p.tensor, false});
      continue;
    }
    if (p.name == "lm_head.weight") {
      tied = false;
      layout.tensors.push_back({"lm_head.weight", p.tensor, false});
      continue;
    }
    const auto dot = p.name.find('.');
    const std::string stack = p.name.substr(0, dot), rest = p.name.substr(dot + 1);
    if (rest == "relative_attention_bias.weight") {
      layout.tensors.push_back(
          {stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight", p.tensor,
           false});
    } else if (rest == "layer_norm.weight") {
      layout.tensors.push_back({stack + ".final_layer_norm.weight", p.tensor, false});
    } else if (rest.starts_with("layers.") && rest.find('.', 7) != std::string::npos) {
      const auto blockEnd = rest.find('.', 7);
      addBlockBinding(stack + ".block." + rest.substr(7, blockEnd - 7) + ".",
                      rest.substr(blockEnd + 1), stack == "decoder", p.tensor, layout);
    } else {
      throw std::invalid_argument("parameter '" + p.name + "' has no " + kModelType + " name");
    }
  }
  for (const char* copy : {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}) {
    layout.tiedCopies.push_back({copy, "shared.weight"});
  }
  if (tied) layout.tiedCopies.push_back({"lm_head.weight", "shared.weight"});
  return layout;
}

}  // namespace moeprof::workloads
