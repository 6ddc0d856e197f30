#pragma once
// Hugging Face checkpoints (a directory with `config.json` holding a "model_type", and the
// weights as `model.safetensors` or shards with `model.safetensors.index.json`) mapped onto the
// workload models. Supported: NLLB-MoE (`nllb-moe`, NllbMoeForConditionalGeneration) and
// SwitchTransformers (`switch_transformers`, SwitchTransformersForConditionalGeneration) onto
// MtModel; Mixtral (`mixtral`), OLMoE (`olmoe`) and Qwen2-MoE (`qwen2_moe`, with its shared
// expert) onto LmModel. The mapping renames tensors, transposes linear weights (PyTorch's
// (out, in) against moeprof's (in, out)), splits and stacks experts, and sets the ModelConfig
// variants that make the model compute what the Hugging Face modelling code computes (position
// offset, embedding scale, expert output scale; RMSNorm, SwiGLU, rotary positions, grouped KV
// heads, gate normalization; T5's relative position biases and unscaled attention, ...).
// Weights may be F32, F16 or BF16; F16 and BF16 widen exactly. Not modelled: padding
// (attention masks, pad positions), sliding windows, and SwitchTransformers' per-sequence
// expert_capacity at inference (dynamic gating matches it while no expert overflows).
// Configs with options moeprof does not implement are refused with an InputError naming them.
#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "workloads/checkpoints/safetensors.h"
#include "workloads/checkpoints/safetensors_shards.h"
#include "workloads/model/model_config.h"
#include "workloads/model/models.h"

namespace moeprof::workloads {

// The checkpoint layouts moeprof reads and writes besides its own.
enum class HfFamily { NllbMoe, Mixtral, Olmoe, Qwen2Moe, SwitchTransformers };

// The model_type Hugging Face writes for the family ("nllb-moe", "mixtral", ...).
const char* hfModelType(HfFamily family);
// The family of a model_type; InputError naming the value and the supported ones otherwise.
HfFamily hfFamilyOf(const std::string& modelType, const std::string& source);

// Whether `dir` holds a Hugging Face checkpoint: a config.json that is a JSON object with a
// "model_type" (moeprof's own checkpoints have none). False when there is no config.json;
// InputError when it is not valid JSON.
bool isHfCheckpoint(const std::filesystem::path& dir);

// An id for an HF checkpoint, which has none of its own (run.json and the expert file of Expert
// Buffering are keyed by it): 16 hex digits of a hash of config.json and of each weight file's
// name, size and modification time, so that rewritten weights get another id. `dir` must be an
// HF checkpoint (describeCheckpoint checks that first).
std::string hfCheckpointId(const std::filesystem::path& dir);

// The ModelConfig of the HF checkpoint in `dir` whose config.json holds `config`; named after the
// directory. InputError naming the key that moeprof cannot model.
ModelConfig hfModelConfig(const std::filesystem::path& dir, const nlohmann::json& config);

// `config` with the architecture variants of `family` (Hugging Face's defaults where the family
// has options), so that a model built from it in memory can be saved in that layout. NLLB-MoE:
// positions from pad id 1 + 1, expert outputs times 1 - moe_token_dropout 0.2.
// SwitchTransformers: T5 numerics (RMS norm, no biases, 32 relative position buckets up to
// distance 128, unscaled attention, tied output scaled by d_model^-0.5, decoding from pad 0),
// top-1 routing on blocks 1, 1 + moe_every, ... (all for moe_every 1). Decoder-only
// families: every block MoE, RMSNorm, SwiGLU, rotary positions, untied lm_head; Mixtral with
// half as many KV heads as heads and renormalized gates, OLMoE with query/key norms and raw
// gates, Qwen2-MoE with q/k/v biases, raw gates and a shared expert twice the expert width.
ModelConfig hfCompatibleConfig(const ModelConfig& config, HfFamily family);

// Loads an HF checkpoint onto `device`. Every tensor the layout needs must be there with the
// shape config.json implies and a float dtype; nothing else may be (tied copies of the shared
// embedding excepted). Otherwise an InputError names the tensor and the file.
MtModel loadHfMtModel(const std::filesystem::path& dir, at::Device device = at::kCPU);
LmModel loadHfLmModel(const std::filesystem::path& dir, at::Device device = at::kCPU);

struct HfSaveOptions {
  SafetensorsDtype dtype = SafetensorsDtype::F32;  // F32, F16 or BF16 (rounded to nearest)
  ShardingOptions sharding;
};

// Writes `model` in the family's layout into `dir` (created when missing): weights, then
// config.json, each atomically. Throws std::invalid_argument when the model's config cannot be
// expressed in that layout (see hfCompatibleConfig) or its experts were dropped.
void saveHfCheckpoint(const MtModel& model, const std::filesystem::path& dir, HfFamily family,
                      const HfSaveOptions& options = {});
void saveHfCheckpoint(const LmModel& model, const std::filesystem::path& dir, HfFamily family,
                      const HfSaveOptions& options = {});

}  // namespace moeprof::workloads
