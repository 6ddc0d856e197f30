#pragma once
// What one Hugging Face layout is, for the generic loader and writer of hf_checkpoint.cpp: which
// stored tensor fills which part of which model parameter, and how config.json maps onto
// ModelConfig and back. Internal to workloads/; one implementation file per family.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "workloads/checkpoints/hf_checkpoint.h"
#include "workloads/model/model_config.h"
#include "workloads/model/parameter_names.h"

namespace moeprof::workloads {

// One stored tensor and the model tensor it fills: a parameter or a view of one (an expert's
// slice of a stacked expert tensor). `transposed`: stored as target.t() (PyTorch's Linear
// weight layout (out, in) against moeprof's (in, out)).
struct HfTensorBinding {
  std::string name;
  at::Tensor target;
  bool transposed = false;
};

// Every stored tensor of a model in one layout. `tiedCopies` are names a checkpoint may also
// hold for a tensor that is tied to `tiedTo` (the shared embedding as lm_head.weight): checked
// for shape when present, never needed, never written.
struct HfLayout {
  std::vector<HfTensorBinding> tensors;
  struct TiedCopy {
    std::string name;
    std::string tiedTo;
  };
  std::vector<TiedCopy> tiedCopies;
};

// Reads the keys of an HF config.json, naming the file and the key on every problem. A key
// that is absent takes the default Hugging Face's configuration class gives it.
class HfConfigReader {
 public:
  HfConfigReader(const nlohmann::json& config, std::string source);
  [[noreturn]] void fail(const std::string& problem) const;
  int64_t integer(const char* key, int64_t min, int64_t max) const;  // required
  int64_t integer(const char* key, int64_t min, int64_t max, int64_t byDefault) const;
  double number(const char* key, double min, double max, double byDefault) const;
  bool flag(const char* key, bool byDefault) const;
  std::string text(const char* key, const std::string& byDefault) const;
  // Refuses a value moeprof does not implement, naming the key, the value and what is allowed.
  void require(const char* key, bool supported, const std::string& value,
               const std::string& allowed) const;
  bool present(const char* key) const;    // there and not null
  bool emptyList(const char* key) const;  // absent, null or []
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& config_;
  std::string source_;
};

// NLLB-MoE (workloads/checkpoints/hf_nllb_moe.cpp).
ModelConfig nllbMoeModelConfig(const HfConfigReader& reader);
nlohmann::json nllbMoeConfigJson(const ModelConfig& config);  // std::invalid_argument if not
ModelConfig nllbMoeCompatible(ModelConfig config);
HfLayout nllbMoeLayout(const std::vector<NamedParameter>& parameters);

// Mixtral, OLMoE, Qwen2-MoE (workloads/checkpoints/hf_decoder_moe.cpp).
ModelConfig decoderMoeModelConfig(const HfConfigReader& reader, HfFamily family);
nlohmann::json decoderMoeConfigJson(const ModelConfig& config, HfFamily family);
ModelConfig decoderMoeCompatible(ModelConfig config, HfFamily family);
HfLayout decoderMoeLayout(const std::vector<NamedParameter>& parameters, HfFamily family);

// SwitchTransformers (workloads/checkpoints/hf_switch_transformers.cpp).
ModelConfig switchModelConfig(const HfConfigReader& reader);
nlohmann::json switchConfigJson(const ModelConfig& config);  // std::invalid_argument if not
ModelConfig switchCompatible(ModelConfig config);
HfLayout switchLayout(const std::vector<NamedParameter>& parameters);

}  // namespace moeprof::workloads
