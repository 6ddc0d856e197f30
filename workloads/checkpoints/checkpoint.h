#pragma once
// Model checkpoints of the LM and MT workloads: a directory holding `config.json` (the
// ModelConfig, a schema version and a checkpoint id) and the weights as safetensors, one file
// `model.safetensors` or Hugging Face-style shards with `model.safetensors.index.json`
// (workloads/checkpoints/safetensors_shards.h). Tensors are named as
// workloads/model/parameter_names.h says and stored as float32, so a loaded model computes bit for
// bit what the saved one did.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "workloads/checkpoints/safetensors_shards.h"
#include "workloads/model/model_config.h"
#include "workloads/model/models.h"

namespace moeprof::workloads {

inline constexpr const char* kCheckpointConfigName = "config.json";
inline constexpr int kCheckpointSchemaVersion = 1;

// Which stored tensor holds which model parameter. Identity unless told otherwise; a table for
// another layout (NLLB-MoE, SwitchTransformers, Mixtral) is a list of add() calls (plus the
// transposes and splits those layouts need, which are not here yet).
class TensorNameMap {
 public:
  void add(std::string parameter, std::string stored);
  std::string storedName(const std::string& parameter) const;

 private:
  std::map<std::string, std::string> stored_;
};

struct CheckpointOptions {
  ShardingOptions sharding;
  TensorNameMap names;
};

// Writes the checkpoint into `dir` (created when missing): weights first, config.json last, each
// file atomically. Every weight file carries the checkpoint id of config.json, so loading a
// directory whose files come from two different saves (a crash while overwriting) is refused.
// Throws std::invalid_argument when the model's experts were dropped (Expert Buffering).
void saveCheckpoint(const LmModel& model, const std::filesystem::path& dir,
                    const CheckpointOptions& options = {});
void saveCheckpoint(const MtModel& model, const std::filesystem::path& dir,
                    const CheckpointOptions& options = {});

// The two layouts a checkpoint directory can have: moeprof's own, or Hugging Face's (a
// config.json with a "model_type", read by workloads/checkpoints/hf_checkpoint.h).
enum class CheckpointLayout { Moeprof, HuggingFace };

// What a checkpoint directory holds, from one reading of its config.json: the layout, the id
// that names it (run.json, the expert file of Expert Buffering) and the model it describes.
struct CheckpointInfo {
  CheckpointLayout layout = CheckpointLayout::Moeprof;
  std::string id;  // moeprof: checkpoint_id, random per save; HF: hfCheckpointId
  ModelConfig config;
};

// InputError when config.json is missing, not JSON, of another schema version, or describes an
// impossible model.
CheckpointInfo describeCheckpoint(const std::filesystem::path& dir);

// Throws InputError when `config` describes a model far larger than the weights `shards` hold
// (a corrupt or hostile config.json of `dir`), before the model is allocated.
void checkConfigFitsWeights(const ModelConfig& config, const SafetensorsShards& shards,
                            const std::filesystem::path& dir);

// InputErrors naming the tensors (the first few, then a count): the config needs `missing`,
// which `shards` lack; `shards` hold tensors outside `used`. For every checkpoint layout.
void requireNoMissingTensors(const SafetensorsShards& shards,
                             const std::vector<std::string>& missing);
void requireNoExtraTensors(const SafetensorsShards& shards, const std::set<std::string>& used);

// Loads a checkpoint onto `device`. Every parameter's tensor must be there with the shape the
// config gives and a float dtype (F16 and BF16 are widened exactly), and nothing else may be;
// otherwise an InputError names the tensor and the file.
LmModel loadLmModel(const std::filesystem::path& dir, at::Device device = at::kCPU,
                    const TensorNameMap& names = {});
MtModel loadMtModel(const std::filesystem::path& dir, at::Device device = at::kCPU,
                    const TensorNameMap& names = {});

}  // namespace moeprof::workloads
