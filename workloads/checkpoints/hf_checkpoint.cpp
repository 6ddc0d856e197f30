#include "workloads/checkpoints/hf_checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "collector/atomic_file.h"
#include "collector/errors.h"
#include "workloads/checkpoints/checkpoint.h"
#include "workloads/checkpoints/hf_layout.h"
#include "workloads/checkpoints/safetensors_tensors.h"

namespace moeprof::workloads {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::vector<int64_t> storedShape(const HfTensorBinding& binding) {
  auto sizes = binding.transposed ? binding.target.t().sizes() : binding.target.sizes();
  return {sizes.begin(), sizes.end()};
}

const SafetensorsShards::Entry& checkedEntry(const SafetensorsShards& shards,
                                             const std::string& name,
                                             const std::vector<int64_t>& shape) {
  const auto& entry = shards.at(name);
  const std::string where = entry.file->path().string() + ": tensor '" + name + "'";
  auto dtype = entry.tensor->dtype;
  if (dtype != SafetensorsDtype::F32 && dtype != SafetensorsDtype::F16 &&
      dtype != SafetensorsDtype::BF16) {
    throw InputError(where + " has dtype " + dtypeName(dtype) + ", expected F32, F16 or BF16");
  }
  if (entry.tensor->shape != shape) {
    throw InputError(where + " has shape " + c10::str(at::IntArrayRef(entry.tensor->shape)) +
                     ", expected " + c10::str(at::IntArrayRef(shape)) + " (from config.json)");
  }
  return entry;
}

// All the layout's tensors there with their shapes and float dtypes, nothing else (tied copies
// allowed); then the model is filled from them.
void fillFromLayout(const HfLayout& layout, const SafetensorsShards& shards) {
  std::vector<std::string> missing;
  std::set<std::string> used;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& binding : layout.tensors) {
    shapes[binding.name] = storedShape(binding);
    if (!shards.find(binding.name)) missing.push_back(binding.name);
  }
  requireNoMissingTensors(shards, missing);
  for (const auto& binding : layout.tensors) {
    checkedEntry(shards, binding.name, shapes[binding.name]);
    used.insert(binding.name);
  }
  for (const auto& copy : layout.tiedCopies) {
    if (!shards.find(copy.name)) continue;
    checkedEntry(shards, copy.name, shapes.at(copy.tiedTo));
    used.insert(copy.name);
  }
  requireNoExtraTensors(shards, used);
  for (const auto& binding : layout.tensors) {
    const auto& entry = shards.at(binding.name);
    copyTensorInto(*entry.file, *entry.tensor,
                   binding.transposed ? binding.target.t() : binding.target);
  }
}

json readConfigJson(const fs::path& dir) {
  const fs::path path = dir / kCheckpointConfigName;
  if (!fs::exists(path)) {
    throw InputError(dir.string() + " is not a checkpoint: no " + kCheckpointConfigName);
  }
  json config = readJsonFile(path);
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string()) {
    throw InputError(path.string() + ": not a Hugging Face config (no \"model_type\" string)");
  }
  return config;
}

std::string modelName(const fs::path& dir, HfFamily family) {
  auto name = fs::absolute(dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  return name.empty() ? hfModelType(family) : name;
}

at::ScalarType scalarTypeFor(SafetensorsDtype dtype) {
  if (dtype != SafetensorsDtype::F32 && dtype != SafetensorsDtype::F16 &&
      dtype != SafetensorsDtype::BF16) {
    throw std::invalid_argument(std::string("Hugging Face checkpoints are saved as F32, F16 or ") +
                                "BF16, not " + dtypeName(dtype));
  }
  return scalarTypeOf(dtype);
}

const char* torchDtypeName(SafetensorsDtype dtype) {
  return dtype == SafetensorsDtype::F16    ? "float16"
         : dtype == SafetensorsDtype::BF16 ? "bfloat16"
                                           : "float32";
}

}  // namespace

HfConfigReader::HfConfigReader(const json& config, std::string source)
    : config_(config), source_(std::move(source)) {}

void HfConfigReader::fail(const std::string& problem) const {
  throw InputError(source_ + ": " + problem);
}

int64_t HfConfigReader::integer(const char* key, int64_t min, int64_t max) const {
  if (!config_.contains(key)) fail(std::string(key) + " is missing");
  return integer(key, min, max, min);
}

int64_t HfConfigReader::integer(const char* key, int64_t min, int64_t max,
                                int64_t byDefault) const {
  if (!config_.contains(key) || config_[key].is_null()) return byDefault;
  const auto& value = config_[key];
  if (!value.is_number_integer() || value.get<int64_t>() < min || value.get<int64_t>() > max) {
    fail(std::string(key) + " is " + value.dump() + ", allowed: an integer in [" +
         std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return value.get<int64_t>();
}

double HfConfigReader::number(const char* key, double min, double max, double byDefault) const {
  if (!config_.contains(key) || config_[key].is_null()) return byDefault;
  const auto& value = config_[key];
  if (!value.is_number() || !(value.get<double>() >= min && value.get<double>() <= max)) {
    fail(std::string(key) + " is " + value.dump() + ", allowed: a number in [" +
         std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return value.get<double>();
}

bool HfConfigReader::flag(const char* key, bool byDefault) const {
  if (!config_.contains(key) || config_[key].is_null()) return byDefault;
  if (!config_[key].is_boolean()) fail(std::string(key) + " is not true or false");
  return config_[key].get<bool>();
}

std::string HfConfigReader::text(const char* key, const std::string& byDefault) const {
  if (!config_.contains(key) || config_[key].is_null()) return byDefault;
  if (!config_[key].is_string()) fail(std::string(key) + " is not a string");
  return config_[key].get<std::string>();
}

void HfConfigReader::require(const char* key, bool supported, const std::string& value,
                             const std::string& allowed) const {
  if (!supported) {
    fail(std::string(key) + " " + value + " is not supported by moeprof, allowed: " + allowed);
  }
}

bool HfConfigReader::present(const char* key) const {
  return config_.contains(key) && !config_[key].is_null();
}

bool HfConfigReader::emptyList(const char* key) const {
  if (!present(key)) return true;
  if (!config_[key].is_array()) fail(std::string(key) + " is not a list");
  return config_[key].empty();
}

const char* hfModelType(HfFamily family) {
  switch (family) {
    case HfFamily::NllbMoe:
      return "nllb-moe";
    case HfFamily::Mixtral:
      return "mixtral";
    case HfFamily::Olmoe:
      return "olmoe";
    case HfFamily::Qwen2Moe:
      return "qwen2_moe";
    case HfFamily::SwitchTransformers:
      return "switch_transformers";
  }
  return "?";
}

HfFamily hfFamilyOf(const std::string& modelType, const std::string& source) {
  if (modelType == "nllb_moe") return HfFamily::NllbMoe;  // the config class's own spelling
  for (auto family : {HfFamily::NllbMoe, HfFamily::Mixtral, HfFamily::Olmoe, HfFamily::Qwen2Moe,
                      HfFamily::SwitchTransformers}) {
    if (modelType == hfModelType(family)) return family;
  }
  throw InputError(source + ": model_type '" + modelType +
                   "' is not supported, allowed: nllb-moe, mixtral, olmoe, qwen2_moe, " +
                   "switch_transformers");
}

bool isHfCheckpoint(const fs::path& dir) {
  const fs::path path = dir / kCheckpointConfigName;
  if (!fs::is_regular_file(path)) return false;
  json config = readJsonFile(path);
  return config.is_object() && config.contains("model_type");
}

std::string hfCheckpointId(const fs::path& dir) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64 bits
  auto mix = [&](const std::string& bytes) {
    for (unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ull;
  };
  std::ifstream config(dir / kCheckpointConfigName, std::ios::binary);
  std::ostringstream text;
  text << config.rdbuf();
  mix(text.str());
  std::vector<fs::path> weights;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (entry.is_regular_file() && (name.ends_with(".safetensors") || name.ends_with(".json")) &&
        name != kCheckpointConfigName) {
      weights.push_back(entry.path());
    }
  }
  std::sort(weights.begin(), weights.end());
  for (const auto& path : weights) {
    mix(path.filename().string() + "/" + std::to_string(fs::file_size(path)) + "/" +
        std::to_string(fs::last_write_time(path).time_since_epoch().count()));
  }
  char id[17];
  std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(hash));
  return id;
}

namespace {

ModelConfig modelConfigOf(const json& config, const std::string& source) {
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string()) {
    throw InputError(source + ": not a Hugging Face config (no \"model_type\" string)");
  }
  HfConfigReader reader(config, source);
  const auto family = hfFamilyOf(config["model_type"].get<std::string>(), source);
  auto c = family == HfFamily::NllbMoe              ? nllbMoeModelConfig(reader)
           : family == HfFamily::SwitchTransformers ? switchModelConfig(reader)
                                                    : decoderMoeModelConfig(reader, family);
  c.name = hfModelType(family);
  c.description = std::string("Hugging Face ") + hfModelType(family) + " checkpoint";
  return c;
}

}  // namespace

ModelConfig hfModelConfig(const fs::path& dir, const json& config) {
  auto model = modelConfigOf(config, (dir / kCheckpointConfigName).string());
  model.name = modelName(dir, hfFamilyOf(config["model_type"], dir.string()));
  model.description += " (" + dir.string() + ")";
  return model;
}

ModelConfig hfCompatibleConfig(const ModelConfig& config, HfFamily family) {
  if (family == HfFamily::SwitchTransformers) return switchCompatible(config);
  return family == HfFamily::NllbMoe ? nllbMoeCompatible(config)
                                     : decoderMoeCompatible(config, family);
}

namespace {

HfLayout layoutOf(const std::vector<NamedParameter>& parameters, HfFamily family) {
  if (family == HfFamily::SwitchTransformers) return switchLayout(parameters);
  return family == HfFamily::NllbMoe ? nllbMoeLayout(parameters)
                                     : decoderMoeLayout(parameters, family);
}

template <typename Model>
Model loadModel(const fs::path& dir, at::Device device, WorkloadKind kind) {
  const json file = readConfigJson(dir);
  auto config = hfModelConfig(dir, file);
  if (config.workload != kind) {
    throw InputError(dir.string() + " holds an " + std::string(workloadName(config.workload)) +
                     " model, not an " + workloadName(kind) + " model");
  }
  auto shards = SafetensorsShards::open(dir);
  checkConfigFitsWeights(config, shards, shards.source());
  Model model(config, 0, device, WeightInit::Uninitialized);
  fillFromLayout(layoutOf(model.namedParameters(), hfFamilyOf(file["model_type"], dir.string())),
                 shards);
  return model;
}

template <typename Model>
void saveModel(const Model& model, const fs::path& dir, HfFamily family,
               const HfSaveOptions& options) {
  const auto type = scalarTypeFor(options.dtype);
  for (const auto& parameter : model.namedParameters()) {
    if (!parameter.tensor.defined()) {
      throw std::invalid_argument("cannot save " + model.config().name + ": parameter '" +
                                  parameter.name + "' is not held by the model (experts dropped?)");
    }
  }
  json config = family == HfFamily::NllbMoe ? nllbMoeConfigJson(model.config())
                : family == HfFamily::SwitchTransformers
                    ? switchConfigJson(model.config())
                    : decoderMoeConfigJson(model.config(), family);
  config["torch_dtype"] = torchDtypeName(options.dtype);
  std::vector<NamedTensor> tensors;
  for (const auto& binding : layoutOf(model.namedParameters(), family).tensors) {
    auto stored = binding.transposed ? binding.target.t() : binding.target;
    tensors.push_back({binding.name, stored.to(at::kCPU, type).contiguous()});
  }
  // config.json goes first, so an interrupted save leaves no config.json beside weights that do
  // not match it; it is written again, complete, at the end.
  fs::create_directories(dir);
  fs::remove(dir / kCheckpointConfigName);
  saveTensorsSharded(dir, tensors, {{"format", "pt"}}, options.sharding);
  collector::writeFileAtomically(dir / kCheckpointConfigName, config.dump(2) + "\n");
}

}  // namespace

LmModel loadHfLmModel(const fs::path& dir, at::Device device) {
  return loadModel<LmModel>(dir, device, WorkloadKind::Lm);
}

MtModel loadHfMtModel(const fs::path& dir, at::Device device) {
  return loadModel<MtModel>(dir, device, WorkloadKind::Mt);
}

void saveHfCheckpoint(const MtModel& model, const fs::path& dir, HfFamily family,
                      const HfSaveOptions& options) {
  if (family != HfFamily::NllbMoe && family != HfFamily::SwitchTransformers) {
    throw std::invalid_argument(std::string("an MT model cannot be saved as ") +
                                hfModelType(family) + ", a decoder-only family");
  }
  saveModel(model, dir, family, options);
}

void saveHfCheckpoint(const LmModel& model, const fs::path& dir, HfFamily family,
                      const HfSaveOptions& options) {
  if (family == HfFamily::NllbMoe || family == HfFamily::SwitchTransformers) {
    throw std::invalid_argument(std::string("an LM model cannot be saved as ") +
                                hfModelType(family) + ", an encoder-decoder");
  }
  saveModel(model, dir, family, options);
}

}  // namespace moeprof::workloads
