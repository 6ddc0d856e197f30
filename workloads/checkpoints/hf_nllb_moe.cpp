// NLLB-MoE (Hugging Face NllbMoeForConditionalGeneration) onto MtModel. The architecture is
// the one MtModel already has (pre-LN blocks, final layer norms, sinusoidal positions, scaled
// embeddings tied with the output projection, top-2 routing with renormalized gate weights,
// ReLU experts with biases); what differs is named here: positions count from pad id + 1, and
// at inference every expert output is scaled by 1 - moe_token_dropout.
#include <algorithm>
#include <stdexcept>
#include <string_view>

#include <ATen/ATen.h>

#include "workloads/checkpoints/hf_layout.h"
#include "workloads/model/models.h"

namespace moeprof::workloads {

namespace {

using nlohmann::json;

constexpr int64_t kMaxDim = int64_t{1} << 24;
constexpr int64_t kNllbTopK = 2;              // NllbMoeTop2Router
constexpr int64_t kDefaultPadId = 1;          // NllbMoeConfig's pad_token_id
constexpr double kDefaultTokenDropout = 0.2;  // NllbMoeConfig's moe_token_dropout
constexpr const char* kModelType = "nllb-moe";

// An encoder/decoder key pair that moeprof's MT model needs equal (it has one value for both).
int64_t sameForBoth(const HfConfigReader& r, const char* encoderKey, const char* decoderKey,
                    int64_t min, int64_t byDefault) {
  int64_t encoder = r.integer(encoderKey, min, kMaxDim, byDefault);
  int64_t decoder = r.integer(decoderKey, min, kMaxDim, byDefault);
  if (encoder != decoder) {
    r.fail(std::string(encoderKey) + " " + std::to_string(encoder) + " and " + decoderKey + " " +
           std::to_string(decoder) + " differ; moeprof's MT model needs them equal");
  }
  return encoder;
}

void requireSupportedOptions(const HfConfigReader& r) {
  auto activation = r.text("activation_function", "relu");
  r.require("activation_function", activation == "relu", activation, "relu");
  auto routerDtype = r.text("router_dtype", "float32");
  r.require("router_dtype", routerDtype == "float32", routerDtype, "float32");
  auto policy = r.text("second_expert_policy", "all");
  r.require("second_expert_policy", policy == "all", policy, "all");
  bool routerBias = r.flag("router_bias", false);
  r.require("router_bias", !routerBias, "true", "false");
  bool tied = r.flag("tie_word_embeddings", true);
  r.require("tie_word_embeddings", tied, "false", "true");
  int64_t start = r.integer("decoder_start_token_id", 0, kMaxDim, MtModel::kBosToken);
  r.require("decoder_start_token_id", start == MtModel::kBosToken, std::to_string(start),
            std::to_string(MtModel::kBosToken) + " (what moeprof's decoding starts from)");
}

void setRouting(const HfConfigReader& r, ModelConfig& c) {
  int64_t sparseStep = sameForBoth(r, "encoder_sparse_step", "decoder_sparse_step", 0, 4);
  c.moe = sparseStep > 0 && sparseStep <= c.layers;
  c.moeEvery = c.moe ? sparseStep : 1;
  c.numExperts = c.moe ? r.integer("num_experts", kNllbTopK, 1 << 20, 128) : 1;
  c.topK = c.moe ? kNllbTopK : 1;
  // The static gating capacity Hugging Face uses at inference: ceil(fraction x tokens), which is
  // moeprof's eval capacity rule with the fraction as capacity factor.
  double fraction = r.number("moe_eval_capacity_token_fraction", 0.0, 1e6, 1.0);
  r.require("moe_eval_capacity_token_fraction", fraction > 0, std::to_string(fraction),
            "a positive fraction (a fixed expert_capacity at inference is not implemented)");
  c.capacityFactor = fraction;
  double tokenDropout = r.number("moe_token_dropout", 0.0, 1.0, kDefaultTokenDropout);
  r.require("moe_token_dropout", tokenDropout < 1.0, std::to_string(tokenDropout),
            "a probability below 1");
  c.expertOutputScale = c.moe ? 1.0 - tokenDropout : 1.0;
}

// The HF names of one expert's (or the dense FFN's) tensors, from a stacked moeprof tensor.
void addExpertBindings(const std::string& prefix, const std::string& piece,
                       const at::Tensor& stacked, bool perExpert, HfLayout& layout) {
  static constexpr std::pair<std::string_view, std::string_view> kPieces[] = {
      {"w1", "fc1.weight"}, {"b1", "fc1.bias"}, {"w2", "fc2.weight"}, {"b2", "fc2.bias"}};
  auto it = std::find_if(std::begin(kPieces), std::end(kPieces),
                         [&](const auto& p) { return p.first == piece; });
  if (it == std::end(kPieces)) throw std::logic_error("unexpected expert tensor " + piece);
  const bool weight = piece[0] == 'w';
  for (int64_t e = 0; e < stacked.size(0); ++e) {
    std::string expert = perExpert ? prefix + "expert_" + std::to_string(e) + "." : prefix;
    layout.tensors.push_back({expert + std::string(it->second), stacked[e], weight});
  }
}

// One block parameter ("self_attn.q_proj.weight" after "model.encoder.layers.3.").
void addBlockBinding(const std::string& prefix, const std::string& tail, const at::Tensor& tensor,
                     HfLayout& layout) {
  if (tail == "moe.router.weight") {
    layout.tensors.push_back({prefix + "ffn.router.classifier.weight", tensor, true});
    return;
  }
  if (tail.starts_with("moe.experts.")) {
    addExpertBindings(prefix + "ffn.experts.", tail.substr(12), tensor, true, layout);
    return;
  }
  if (tail.starts_with("ffn.")) {
    addExpertBindings(prefix + "ffn.", tail.substr(4), tensor, false, layout);
    return;
  }
  static constexpr std::pair<std::string_view, std::string_view> kRenames[] = {
      {"encoder_attn_layer_norm.", "cross_attention_layer_norm."},
      {"encoder_attn.", "cross_attention."},
      {"final_layer_norm.", "ff_layer_norm."}};
  std::string name = tail;
  for (const auto& [from, to] : kRenames) {
    if (name.starts_with(from)) {
      name = std::string(to) + name.substr(from.size());
      break;
    }
  }
  layout.tensors.push_back({prefix + name, tensor, name.ends_with("_proj.weight")});
}

}  // namespace

ModelConfig nllbMoeModelConfig(const HfConfigReader& r) {
  requireSupportedOptions(r);
  ModelConfig c;
  c.workload = WorkloadKind::Mt;
  c.dModel = r.integer("d_model", 1, kMaxDim, 1024);
  c.ffnDim = sameForBoth(r, "encoder_ffn_dim", "decoder_ffn_dim", 1, 4096);
  c.heads = sameForBoth(r, "encoder_attention_heads", "decoder_attention_heads", 1, 16);
  if (c.dModel % c.heads != 0) {
    r.fail("encoder_attention_heads " + std::to_string(c.heads) + " does not divide d_model " +
           std::to_string(c.dModel));
  }
  c.vocab = r.integer("vocab_size", 1, kMaxDim, 128112);
  c.maxPositions = r.integer("max_position_embeddings", 1, kMaxDim, 1024);
  c.layers = sameForBoth(r, "encoder_layers", "decoder_layers", 1, 12);
  if (c.layers > 4096) r.fail("encoder_layers " + std::to_string(c.layers) + " exceeds 4096");
  setRouting(r, c);
  c.positionOffset = r.integer("pad_token_id", 0, c.vocab - 1, kDefaultPadId) + 1;
  c.scaleEmbedding = r.flag("scale_embedding", true);
  c.defaultBatch = 8;
  c.defaultSeqLen = std::min<int64_t>(32, c.maxPositions);
  c.defaultDecodeSteps = std::min<int64_t>(16, c.maxPositions);
  return c;
}

ModelConfig nllbMoeCompatible(ModelConfig c) {
  c.positionOffset = kDefaultPadId + 1;
  c.expertOutputScale = c.moe ? 1.0 - kDefaultTokenDropout : 1.0;
  if (c.moe) c.topK = kNllbTopK;
  return c;
}

json nllbMoeConfigJson(const ModelConfig& c) {
  auto refuse = [&](const std::string& why) {
    throw std::invalid_argument("cannot save " + c.name + " as " + kModelType + ": " + why);
  };
  if (c.workload != WorkloadKind::Mt) refuse("it is not an MT model");
  if (c.positionOffset < 1) refuse("its positions start at 0, NLLB-MoE's at pad_token_id + 1");
  if (c.moe && c.topK != kNllbTopK) refuse("NLLB-MoE routes to the top 2 experts");
  if (c.expertOutputScale <= 0 || c.expertOutputScale > 1) {
    refuse("its expert output scale is not 1 - a dropout probability");
  }
  const int64_t sparseStep = c.moe ? c.moeEvery : 0;
  return {{"architectures", {"NllbMoeForConditionalGeneration"}},
          {"model_type", kModelType},
          {"is_encoder_decoder", true},
          {"vocab_size", c.vocab},
          {"max_position_embeddings", c.maxPositions},
          {"d_model", c.dModel},
          {"encoder_layers", c.layers},
          {"decoder_layers", c.layers},
          {"encoder_ffn_dim", c.ffnDim},
          {"decoder_ffn_dim", c.ffnDim},
          {"encoder_attention_heads", c.heads},
          {"decoder_attention_heads", c.heads},
          {"encoder_sparse_step", sparseStep},
          {"decoder_sparse_step", sparseStep},
          {"num_experts", c.numExperts},
          {"expert_capacity", 64},
          {"router_bias", false},
          {"router_dtype", "float32"},
          {"router_ignore_padding_tokens", false},
          {"second_expert_policy", "all"},
          {"normalize_router_prob_before_dropping", false},
          {"batch_prioritized_routing", false},
          {"moe_eval_capacity_token_fraction", c.capacityFactor},
          {"moe_token_dropout", 1.0 - c.expertOutputScale},
          {"activation_function", "relu"},
          {"scale_embedding", c.scaleEmbedding},
          {"tie_word_embeddings", true},
          {"dropout", 0.1},
          {"attention_dropout", 0.1},
          {"activation_dropout", 0.0},
          {"encoder_layerdrop", 0.05},
          {"decoder_layerdrop", 0.05},
          {"init_std", 0.02},
          {"use_cache", true},
          {"pad_token_id", c.positionOffset - 1},
          {"bos_token_id", 0},
          {"eos_token_id", 2},
          {"decoder_start_token_id", MtModel::kBosToken}};
}

HfLayout nllbMoeLayout(const std::vector<NamedParameter>& parameters) {
  HfLayout layout;
  for (const auto& p : parameters) {
    if (p.name == "embed_tokens.weight") {
      layout.tensors.push_back({"model.shared.weight", p.tensor, false});
      for (const char* copy : {"model.encoder.embed_tokens.weight",
                               "model.decoder.embed_tokens.weight", "lm_head.weight"}) {
        layout.tiedCopies.push_back({copy, "model.shared.weight"});
      }
      continue;
    }
    const auto dot = p.name.find('.');
    const std::string stack = p.name.substr(0, dot), rest = p.name.substr(dot + 1);
    if (rest.starts_with("layer_norm.")) {
      layout.tensors.push_back({"model." + stack + "." + rest, p.tensor, false});
      continue;
    }
    const auto blockEnd = rest.find('.', 7);  // after "layers.<i>"
    if (!rest.starts_with("layers.") || blockEnd == std::string::npos) {
      throw std::logic_error("unexpected MT parameter " + p.name);
    }
    addBlockBinding("model." + stack + "." + rest.substr(0, blockEnd + 1),
                    rest.substr(blockEnd + 1), p.tensor, layout);
  }
  return layout;
}

}  // namespace moeprof::workloads
