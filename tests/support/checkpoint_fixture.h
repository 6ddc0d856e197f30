#pragma once
// Test support for the checkpoint tests (moeprof's own layout and the Hugging Face ones):
// seeded token batches, what a model computes on them, and a temporary directory holding a
// saved checkpoint whose config.json and single weights file a test edits before loading.
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "workloads/checkpoints/checkpoint.h"
#include "workloads/checkpoints/safetensors_tensors.h"

namespace moeprof::testing {

// Seeded ids in [4, vocab): clear of the special tokens.
inline at::Tensor seededTokens(int64_t batch, int64_t length, int64_t vocab, uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(4, vocab, {batch, length}, generator, at::TensorOptions().dtype(at::kLong));
}

inline at::Tensor lmLogits(const workloads::LmModel& model, workloads::GatingMode gating) {
  workloads::ForwardContext context;
  context.gating = gating;
  context.capacityFactor = model.config().capacityFactor;
  return model.forward(seededTokens(2, 8, model.config().vocab, 11), context);
}

// Encoder output and a few greedy decoding steps' logits (from the decoder start token),
// concatenated.
inline at::Tensor mtOutputs(const workloads::MtModel& model, workloads::GatingMode gating) {
  workloads::ForwardContext context;
  context.gating = gating;
  context.capacityFactor = model.config().capacityFactor;
  auto encoded = model.encode(seededTokens(3, 6, model.config().vocab, 12), context);
  auto caches = model.newCaches();
  auto previous = at::full({3, 1}, model.config().decoderStartToken, at::kLong);
  std::vector<at::Tensor> outputs{encoded.flatten()};
  for (int64_t step = 0; step < 4; ++step) {
    auto logits = model.decodeStep(previous, step, encoded, caches, context);
    outputs.push_back(logits.flatten());
    previous = logits.argmax(-1, true);
  }
  return at::cat(outputs);
}

// A TempDirTest whose directory holds a single-file checkpoint (saved by the test).
class CheckpointDirTest : public TempDirTest {
 protected:
  nlohmann::json savedConfig() const {
    nlohmann::json config;
    std::ifstream(dir_ / workloads::kCheckpointConfigName) >> config;
    return config;
  }
  void editConfig(const std::function<void(nlohmann::json&)>& edit) {
    auto config = savedConfig();
    edit(config);
    std::ofstream(dir_ / workloads::kCheckpointConfigName) << config.dump();
  }
  // Every tensor of the weights file, changed by `edit`, written back with the same metadata
  // (so a moeprof checkpoint's id still matches).
  void rewriteWeights(const std::function<void(std::vector<workloads::NamedTensor>&)>& edit) {
    auto path = dir_ / workloads::kSafetensorsFileName;
    std::vector<workloads::NamedTensor> tensors;
    workloads::SafetensorsMetadata metadata;
    {
      auto file = workloads::SafetensorsFile::open(path);
      metadata = file.metadata();
      for (const auto& tensor : file.tensors()) {
        tensors.push_back({tensor.name, workloads::loadTensor(file, tensor)});
      }
    }
    edit(tensors);
    workloads::saveTensors(path, tensors, metadata);
  }
  std::string lmLoadError() {
    return inputErrorMessage([&] { workloads::loadLmModel(dir_); });
  }
  std::string mtLoadError() {
    return inputErrorMessage([&] { workloads::loadMtModel(dir_); });
  }
};

}  // namespace moeprof::testing
