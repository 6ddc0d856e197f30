#include "workloads/checkpoints/checkpoint.h"

#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "collector/atomic_file.h"
#include "collector/errors.h"
#include "workloads/checkpoints/hf_checkpoint.h"
#include "workloads/checkpoints/safetensors_shards.h"
#include "workloads/checkpoints/safetensors_tensors.h"

namespace moeprof::workloads {

namespace {

std::string listOf(const std::vector<std::string>& names) {
  constexpr size_t kShown = 5;
  std::string text;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) {
    text += (i ? ", '" : "'") + names[i] + "'";
  }
  if (names.size() > kShown) text += " and " + std::to_string(names.size() - kShown) + " more";
  return text;
}

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kFormatName = "moeprof-checkpoint";
constexpr const char* kIdKey = "moeprof_checkpoint_id";

json configJsonWithoutVariants(const ModelConfig& c, const std::string& id);

// The numeric variants of other layouts (an HF checkpoint trained further, saved as moeprof's
// own), written only when they differ from moeprof's defaults, so older files stay as they were.
void addVariants(const ModelConfig& c, json& model) {
  const ModelConfig defaults;
  if (c.positionOffset != defaults.positionOffset) model["position_offset"] = c.positionOffset;
  if (c.scaleEmbedding != defaults.scaleEmbedding) model["scale_embedding"] = c.scaleEmbedding;
  if (c.expertOutputScale != defaults.expertOutputScale) {
    model["expert_output_scale"] = c.expertOutputScale;
  }
  if (c.rmsNorm) model["rms_norm"] = true;
  if (c.normEps != defaults.normEps) model["norm_eps"] = c.normEps;
  if (c.swiGlu) model["swiglu"] = true;
  if (c.ropeTheta != defaults.ropeTheta) model["rope_theta"] = c.ropeTheta;
  if (c.kvHeads != defaults.kvHeads) model["kv_heads"] = c.kvHeads;
  if (!c.qkvBias) model["qkv_bias"] = false;
  if (!c.outBias) model["out_bias"] = false;
  if (!c.tiedOutput) model["tied_output"] = false;
  if (c.qkNorm) model["qk_norm"] = true;
  if (c.gateNorm != defaults.gateNorm) {
    model["gate_norm"] = c.gateNorm == ModelConfig::GateNorm::Raw ? "raw" : "renormalize";
  }
  if (c.sharedExpertFfnDim > 0) model["shared_expert_ffn_dim"] = c.sharedExpertFfnDim;
  if (c.relativeAttentionBuckets > 0) {
    model["relative_attention_buckets"] = c.relativeAttentionBuckets;
    model["relative_attention_max_distance"] = c.relativeAttentionMaxDistance;
  }
  if (!c.scaleAttention) model["scale_attention"] = false;
  if (c.outputHiddenScale != defaults.outputHiddenScale) {
    model["output_hidden_scale"] = c.outputHiddenScale;
  }
  if (c.decoderStartToken != defaults.decoderStartToken) {
    model["decoder_start_token"] = c.decoderStartToken;
  }
  if (c.moeFirstBlock != defaults.moeFirstBlock) model["moe_first_block"] = c.moeFirstBlock;
}

json configJson(const ModelConfig& c, const std::string& id) {
  json config = configJsonWithoutVariants(c, id);
  addVariants(c, config["model"]);
  return config;
}

json configJsonWithoutVariants(const ModelConfig& c, const std::string& id) {
  return {{"format", kFormatName},
          {"schema_version", kCheckpointSchemaVersion},
          {"checkpoint_id", id},
          {"parameters", c.parameterCount()},
          {"model",
           {{"name", c.name},
            {"description", c.description},
            {"workload", workloadName(c.workload)},
            {"moe", c.moe},
            {"d_model", c.dModel},
            {"ffn_dim", c.ffnDim},
            {"heads", c.heads},
            {"vocab", c.vocab},
            {"max_positions", c.maxPositions},
            {"layers", c.layers},
            {"experts", c.numExperts},
            {"top_k", c.topK},
            {"moe_every", c.moeEvery},
            {"capacity_factor", c.capacityFactor},
            {"default_batch", c.defaultBatch},
            {"default_seq_len", c.defaultSeqLen},
            {"default_decode_steps", c.defaultDecodeSteps},
            {"pregates", c.pregates}}}};
}

// Reads fields of config.json's "model", naming the file and the field on every problem.
class ConfigReader {
 public:
  ConfigReader(const json& model, std::string source) : model_(model), source_(std::move(source)) {}
  [[noreturn]] void fail(const std::string& problem) const {
    throw InputError(source_ + ": " + problem);
  }
  const json& field(const char* key) const {
    if (!model_.contains(key)) fail(std::string("model.") + key + " is missing");
    return model_[key];
  }
  int64_t integer(const char* key, int64_t min, int64_t max) const {
    const auto& value = field(key);
    if (!value.is_number_integer() || value.get<int64_t>() < min || value.get<int64_t>() > max) {
      fail(std::string("model.") + key + " is " + value.dump() + ", allowed: an integer in [" +
           std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return value.get<int64_t>();
  }
  std::string text(const char* key) const {
    const auto& value = field(key);
    if (!value.is_string()) fail(std::string("model.") + key + " is not a string");
    return value.get<std::string>();
  }
  bool flag(const char* key) const {
    const auto& value = field(key);
    if (!value.is_boolean()) fail(std::string("model.") + key + " is not true or false");
    return value.get<bool>();
  }
  double number(const char* key) const {
    const auto& value = field(key);
    if (!value.is_number() || value.get<double>() <= 0) {
      fail(std::string("model.") + key + " is " + value.dump() + ", allowed: a positive number");
    }
    return value.get<double>();
  }

 private:
  const json& model_;
  std::string source_;
};

// The variants addVariants wrote; absent ones keep moeprof's defaults.
void readVariants(const ConfigReader& r, const json& model, ModelConfig& c) {
  constexpr int64_t kMaxDim = int64_t{1} << 24;
  auto has = [&](const char* key) { return model.contains(key); };
  if (has("position_offset")) c.positionOffset = r.integer("position_offset", 0, kMaxDim);
  if (has("scale_embedding")) c.scaleEmbedding = r.flag("scale_embedding");
  if (has("expert_output_scale")) c.expertOutputScale = r.number("expert_output_scale");
  if (has("rms_norm")) c.rmsNorm = r.flag("rms_norm");
  if (has("norm_eps")) c.normEps = r.number("norm_eps");
  if (has("swiglu")) c.swiGlu = r.flag("swiglu");
  if (has("rope_theta")) c.ropeTheta = r.number("rope_theta");
  if (has("kv_heads")) c.kvHeads = r.integer("kv_heads", 1, c.heads);
  if (c.heads % c.kvHeadCount() != 0) r.fail("model.kv_heads does not divide model.heads");
  if (has("qkv_bias")) c.qkvBias = r.flag("qkv_bias");
  if (has("out_bias")) c.outBias = r.flag("out_bias");
  if (has("tied_output")) c.tiedOutput = r.flag("tied_output");
  if (has("qk_norm")) c.qkNorm = r.flag("qk_norm");
  if (has("gate_norm")) {
    auto norm = r.text("gate_norm");
    if (norm != "raw" && norm != "renormalize") {
      r.fail("model.gate_norm is '" + norm + "', allowed: raw, renormalize");
    }
    c.gateNorm = norm == "raw" ? ModelConfig::GateNorm::Raw : ModelConfig::GateNorm::Renormalize;
  }
  if (has("shared_expert_ffn_dim")) {
    c.sharedExpertFfnDim = r.integer("shared_expert_ffn_dim", 1, kMaxDim);
  }
  if (has("relative_attention_buckets")) {
    c.relativeAttentionBuckets = r.integer("relative_attention_buckets", 4, kMaxDim);
    c.relativeAttentionMaxDistance =
        r.integer("relative_attention_max_distance", c.relativeAttentionBuckets / 2 + 1, kMaxDim);
  }
  if (has("scale_attention")) c.scaleAttention = r.flag("scale_attention");
  if (has("output_hidden_scale")) c.outputHiddenScale = r.number("output_hidden_scale");
  if (has("decoder_start_token")) {
    c.decoderStartToken = r.integer("decoder_start_token", 0, c.vocab - 1);
  }
  if (has("moe_first_block")) c.moeFirstBlock = r.integer("moe_first_block", 0, c.layers - 1);
}

ModelConfig configFromJson(const json& model, const std::string& source) {
  if (!model.is_object()) throw InputError(source + ": \"model\" is not an object");
  ConfigReader r(model, source);
  constexpr int64_t kMaxDim = int64_t{1} << 24;  // bounds products; the paper's models fit easily
  ModelConfig c;
  c.name = r.text("name");
  c.description = r.text("description");
  std::string workload = r.text("workload");
  if (workload != "lm" && workload != "mt") {
    r.fail("model.workload is '" + workload + "', allowed: lm, mt");
  }
  c.workload = workload == "lm" ? WorkloadKind::Lm : WorkloadKind::Mt;
  c.moe = r.flag("moe");
  c.dModel = r.integer("d_model", 1, kMaxDim);
  c.ffnDim = r.integer("ffn_dim", 1, kMaxDim);
  c.heads = r.integer("heads", 1, c.dModel);
  if (c.dModel % c.heads != 0) {
    r.fail("model.heads " + std::to_string(c.heads) + " does not divide d_model " +
           std::to_string(c.dModel));
  }
  c.vocab = r.integer("vocab", 1, kMaxDim);
  c.maxPositions = r.integer("max_positions", 1, kMaxDim);
  c.layers = r.integer("layers", 1, 4096);
  c.numExperts = r.integer("experts", 1, 1 << 20);
  c.topK = r.integer("top_k", 1, c.numExperts);
  c.moeEvery = r.integer("moe_every", 1, c.layers);
  c.capacityFactor = r.number("capacity_factor");
  c.defaultBatch = r.integer("default_batch", 1, kMaxDim);
  c.defaultSeqLen = r.integer("default_seq_len", 1, kMaxDim);
  c.defaultDecodeSteps = r.integer("default_decode_steps", 0, kMaxDim);
  readVariants(r, model, c);
  c.pregates = model.contains("pregates") && r.flag("pregates");  // absent: older checkpoints
  return c;
}

std::string newCheckpointId() {
  std::random_device device;
  std::uniform_int_distribution<uint64_t> bits;
  char id[17];
  std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(bits(device)));
  return id;
}

template <typename Model>
void saveModel(const Model& model, const fs::path& dir, const CheckpointOptions& options) {
  std::vector<NamedTensor> tensors;
  for (auto& parameter : model.namedParameters()) {
    if (!parameter.tensor.defined()) {
      throw std::invalid_argument("cannot save " + model.config().name + ": parameter '" +
                                  parameter.name + "' is not held by the model (experts dropped?)");
    }
    tensors.push_back({options.names.storedName(parameter.name), parameter.tensor});
  }
  const std::string id = newCheckpointId();
  SafetensorsMetadata metadata{
      {"format", "pt"}, {"moeprof_model", model.config().name}, {kIdKey, id}};
  // config.json goes first, so a save interrupted part way leaves no config.json that matches
  // weights of another save; it is written again, complete, at the end.
  fs::create_directories(dir);
  fs::remove(dir / kCheckpointConfigName);
  saveTensorsSharded(dir, tensors, metadata, options.sharding);
  collector::writeFileAtomically(dir / kCheckpointConfigName,
                                 configJson(model.config(), id).dump(2) + "\n");
}

// Every file must come from the save that wrote config.json.
void checkCheckpointIds(const SafetensorsShards& shards, const std::string& id) {
  for (const auto& file : shards.files()) {
    auto it = file.metadata().find(kIdKey);
    std::string found = it == file.metadata().end() ? "none" : it->second;
    if (found != id) {
      throw InputError(file.path().string() + ": checkpoint id " + found +
                       " differs from config.json's " + id +
                       " (the files come from different saves)");
    }
  }
}

// Matches the stored tensors to the model's parameters: all there, nothing more, float dtypes,
// the config's shapes. Then fills the parameters.
void fillParameters(const std::vector<NamedParameter>& parameters, const SafetensorsShards& shards,
                    const TensorNameMap& names) {
  std::vector<std::string> missing;
  std::set<std::string> used;
  for (const auto& parameter : parameters) {
    std::string stored = names.storedName(parameter.name);
    const auto* entry = shards.find(stored);
    if (!entry) {
      missing.push_back(stored);
      continue;
    }
    used.insert(stored);
    const std::string where = entry->file->path().string() + ": tensor '" + stored + "'";
    auto dtype = entry->tensor->dtype;
    if (dtype != SafetensorsDtype::F32 && dtype != SafetensorsDtype::F16 &&
        dtype != SafetensorsDtype::BF16) {
      throw InputError(where + " has dtype " + dtypeName(dtype) + ", expected F32 (or F16, BF16)");
    }
    if (!parameter.tensor.sizes().equals(entry->tensor->shape)) {
      throw InputError(where + " has shape " + c10::str(at::IntArrayRef(entry->tensor->shape)) +
                       ", expected " + c10::str(parameter.tensor.sizes()) + " (from config.json)");
    }
  }
  requireNoMissingTensors(shards, missing);
  requireNoExtraTensors(shards, used);
  for (const auto& parameter : parameters) {
    const auto& entry = shards.at(names.storedName(parameter.name));
    copyTensorInto(*entry.file, *entry.tensor, parameter.tensor);
  }
}

// The checkpoint id and model of a moeprof config.json (`config`, read from `path`).
CheckpointInfo moeprofCheckpoint(const json& config, const fs::path& path) {
  if (!config.is_object() || !config.contains("format") || config["format"] != kFormatName) {
    throw InputError(path.string() + ": not a moeprof checkpoint config (\"format\" is not \"" +
                     kFormatName + "\")");
  }
  if (!config.contains("schema_version") || config["schema_version"] != kCheckpointSchemaVersion) {
    throw InputError(
        path.string() + ": schema_version " +
        (config.contains("schema_version") ? config["schema_version"].dump() : "none") +
        " is not the supported " + std::to_string(kCheckpointSchemaVersion));
  }
  if (!config.contains("model")) throw InputError(path.string() + ": has no \"model\"");
  if (!config.contains("checkpoint_id") || !config["checkpoint_id"].is_string()) {
    throw InputError(path.string() + ": has no \"checkpoint_id\" string");
  }
  return {CheckpointLayout::Moeprof, config["checkpoint_id"].get<std::string>(),
          configFromJson(config["model"], path.string())};
}

// Whether the product of `factors` is at most `limit` (false on overflow).
bool productAtMost(uint64_t limit, std::initializer_list<int64_t> factors) {
  uint64_t product = 1;
  for (int64_t factor : factors) {
    if (__builtin_mul_overflow(product, static_cast<uint64_t>(factor), &product)) return false;
  }
  return product <= limit;
}

struct OpenedCheckpoint {
  ModelConfig config;
  SafetensorsShards shards;
};

OpenedCheckpoint openCheckpoint(const fs::path& dir, WorkloadKind kind) {
  auto [layout, id, config] = describeCheckpoint(dir);
  if (config.workload != kind) {
    throw InputError(dir.string() + " holds an " + workloadName(config.workload) +
                     " model, not an " + workloadName(kind) + " model");
  }
  auto shards = SafetensorsShards::open(dir);
  checkCheckpointIds(shards, id);
  checkConfigFitsWeights(config, shards, dir);
  return {std::move(config), std::move(shards)};
}

}  // namespace

// The model is allocated (uninitialized, so only address space) before its tensors are matched
// and mismatches named; a config far larger than the weights (corrupt or hostile) must not get
// that far, nor overflow the parameter count. A few times the weights is allowed, so that a
// config that is merely wrong gets the precise message naming the first tensor that differs.
void requireNoMissingTensors(const SafetensorsShards& shards,
                             const std::vector<std::string>& missing) {
  if (missing.empty()) return;
  throw InputError(shards.source().string() + ": missing tensors " + listOf(missing) +
                   " that the model's config.json needs");
}

void requireNoExtraTensors(const SafetensorsShards& shards, const std::set<std::string>& used) {
  std::vector<std::string> extra;
  for (const auto& [name, entry] : shards.tensors()) {
    if (!used.count(name)) extra.push_back(name);
  }
  if (extra.empty()) return;
  throw InputError(shards.source().string() + ": tensors " + listOf(extra) +
                   " are not parameters of the model config.json describes");
}

void checkConfigFitsWeights(const ModelConfig& c, const SafetensorsShards& shards,
                            const fs::path& dir) {
  uint64_t elements = 0;
  for (const auto& [name, entry] : shards.tensors()) elements += entry.tensor->elementCount();
  const uint64_t limit = 4 * elements + (uint64_t{1} << 20);
  bool fits = productAtMost(limit, {c.numExperts, c.dModel, c.ffnDim}) &&
              productAtMost(limit, {c.vocab, c.dModel}) &&
              productAtMost(limit, {c.maxPositions, c.dModel}) &&
              productAtMost(limit, {c.dModel, c.dModel}) &&
              productAtMost(limit, {c.layers, c.dModel});
  if (!fits || static_cast<uint64_t>(c.parameterCount()) > limit) {
    throw InputError(dir.string() + ": config.json describes a model of more parameters than " +
                     "the " + std::to_string(elements) + " values its weight files hold");
  }
}

void TensorNameMap::add(std::string parameter, std::string stored) {
  stored_[std::move(parameter)] = std::move(stored);
}

std::string TensorNameMap::storedName(const std::string& parameter) const {
  auto it = stored_.find(parameter);
  return it == stored_.end() ? parameter : it->second;
}

void saveCheckpoint(const LmModel& model, const fs::path& dir, const CheckpointOptions& options) {
  saveModel(model, dir, options);
}

void saveCheckpoint(const MtModel& model, const fs::path& dir, const CheckpointOptions& options) {
  saveModel(model, dir, options);
}

CheckpointInfo describeCheckpoint(const fs::path& dir) {
  const fs::path path = dir / kCheckpointConfigName;
  if (!fs::exists(path)) {
    throw InputError(dir.string() + " is not a moeprof checkpoint: no " + kCheckpointConfigName);
  }
  const json config = readJsonFile(path);
  if (config.is_object() && config.contains("model_type")) {
    auto model = hfModelConfig(dir, config);  // checks the config before hashing the files
    return {CheckpointLayout::HuggingFace, hfCheckpointId(dir), std::move(model)};
  }
  return moeprofCheckpoint(config, path);
}

LmModel loadLmModel(const fs::path& dir, at::Device device, const TensorNameMap& names) {
  if (isHfCheckpoint(dir)) return loadHfLmModel(dir, device);
  auto checkpoint = openCheckpoint(dir, WorkloadKind::Lm);
  LmModel model(checkpoint.config, 0, device, WeightInit::Uninitialized);
  fillParameters(model.namedParameters(), checkpoint.shards, names);
  return model;
}

MtModel loadMtModel(const fs::path& dir, at::Device device, const TensorNameMap& names) {
  if (isHfCheckpoint(dir)) return loadHfMtModel(dir, device);
  auto checkpoint = openCheckpoint(dir, WorkloadKind::Mt);
  MtModel model(checkpoint.config, 0, device, WeightInit::Uninitialized);
  fillParameters(model.namedParameters(), checkpoint.shards, names);
  return model;
}

}  // namespace moeprof::workloads
