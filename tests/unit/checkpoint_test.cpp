// Model checkpoints: lm-tiny and mt-tiny saved and loaded compute bit for bit what the saved
// models did (single file and sharded); missing, extra, mis-shaped and mistyped tensors, configs
// that do not match, and files from different saves are rejected naming what is wrong.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "tests/support/checkpoint_fixture.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "workloads/checkpoints/checkpoint.h"
#include "workloads/checkpoints/safetensors_tensors.h"
#include "workloads/model/presets.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using workloads::ForwardContext;
using workloads::GatingMode;
using workloads::LmModel;
using workloads::MtModel;
using workloads::NamedTensor;
using workloads::SafetensorsFile;

class CheckpointTest : public testing::CheckpointDirTest {
 protected:
  const workloads::ModelConfig& lmTiny = workloads::findPreset("lm-tiny");
  const workloads::ModelConfig& mtTiny = workloads::findPreset("mt-tiny");
};

TEST_F(CheckpointTest, NamedParametersCoverEveryWeightOnce) {
  for (const char* name : {"lm-tiny", "mt-tiny", "lm-dense-tiny", "mt-dense-tiny"}) {
    const auto& config = workloads::findPreset(name);
    auto parameters = config.workload == workloads::WorkloadKind::Lm
                          ? LmModel(config, 1, at::kCPU).namedParameters()
                          : MtModel(config, 1, at::kCPU).namedParameters();
    int64_t elements = 0;
    std::set<std::string> names;
    std::set<const void*> storages;
    for (const auto& parameter : parameters) {
      elements += parameter.tensor.numel();
      EXPECT_TRUE(names.insert(parameter.name).second) << name << ": " << parameter.name;
      EXPECT_TRUE(storages.insert(parameter.tensor.data_ptr()).second) << parameter.name;
    }
    EXPECT_EQ(elements, config.parameterCount()) << name;
  }
}

TEST_F(CheckpointTest, LmTinyLoadsBitIdentical) {
  LmModel model(lmTiny, 5, at::kCPU);
  workloads::saveCheckpoint(model, dir_);
  EXPECT_TRUE(fs::exists(dir_ / workloads::kSafetensorsFileName));
  auto loaded = workloads::loadLmModel(dir_);
  EXPECT_EQ(loaded.config().name, "lm-tiny");
  EXPECT_EQ(loaded.config().capacityFactor, lmTiny.capacityFactor);
  EXPECT_EQ(loaded.weightBytes(), model.weightBytes());
  for (auto gating : {GatingMode::Static, GatingMode::Dynamic}) {
    EXPECT_TRUE(at::equal(testing::lmLogits(loaded, gating), testing::lmLogits(model, gating)));
  }
  LmModel other(lmTiny, 6, at::kCPU);  // the comparison can fail: another seed differs
  EXPECT_FALSE(at::equal(testing::lmLogits(other, GatingMode::Dynamic),
                         testing::lmLogits(model, GatingMode::Dynamic)));
}

TEST_F(CheckpointTest, MtTinyLoadsBitIdenticalFromShards) {
  MtModel model(mtTiny, 9, at::kCPU);
  workloads::CheckpointOptions options;
  options.sharding.maxShardBytes = 64 * 1024;
  workloads::saveCheckpoint(model, dir_, options);
  ASSERT_TRUE(fs::exists(dir_ / workloads::kSafetensorsIndexName));
  EXPECT_FALSE(fs::exists(dir_ / workloads::kSafetensorsFileName));
  EXPECT_GT(workloads::SafetensorsShards::open(dir_).files().size(), 1u);
  auto loaded = workloads::loadMtModel(dir_);
  for (auto gating : {GatingMode::Static, GatingMode::Dynamic}) {
    EXPECT_TRUE(at::equal(testing::mtOutputs(loaded, gating), testing::mtOutputs(model, gating)));
  }
}

TEST_F(CheckpointTest, HalfPrecisionWeightsLoadWidened) {
  LmModel model(lmTiny, 5, at::kCPU);
  workloads::saveCheckpoint(model, dir_);
  rewriteWeights([](auto& tensors) {
    for (auto& named : tensors) named.tensor = named.tensor.to(at::kBFloat16);
  });
  auto loaded = workloads::loadLmModel(dir_);
  auto original = model.namedParameters();
  auto widened = loaded.namedParameters();
  for (size_t i = 0; i < original.size(); ++i) {
    EXPECT_TRUE(at::equal(widened[i].tensor, original[i].tensor.to(at::kBFloat16).to(at::kFloat)))
        << original[i].name;
  }
}

TEST_F(CheckpointTest, MissingExtraMisShapedAndMistypedTensorsAreNamed) {
  LmModel model(lmTiny, 5, at::kCPU);
  workloads::saveCheckpoint(model, dir_);
  const std::string victim = "decoder.layers.1.moe.experts.w2";
  rewriteWeights([&](auto& tensors) {
    std::erase_if(tensors, [&](const NamedTensor& t) { return t.name == victim; });
  });
  auto missing = lmLoadError();
  EXPECT_NE(missing.find("missing tensors '" + victim + "'"), std::string::npos) << missing;

  workloads::saveCheckpoint(model, dir_);
  rewriteWeights([](auto& tensors) {
    tensors.push_back({"decoder.layers.9.bonus", at::ones({2})});
  });
  auto extra = lmLoadError();
  EXPECT_NE(extra.find("'decoder.layers.9.bonus' are not parameters"), std::string::npos) << extra;

  workloads::saveCheckpoint(model, dir_);
  rewriteWeights([&](auto& tensors) {
    for (auto& t : tensors) {
      if (t.name == victim) t.tensor = t.tensor.transpose(1, 2);
    }
  });
  auto shape = lmLoadError();
  EXPECT_NE(shape.find("tensor '" + victim + "' has shape [8, 16, 32], expected [8, 32, 16]"),
            std::string::npos)
      << shape;
  EXPECT_NE(shape.find(workloads::kSafetensorsFileName), std::string::npos) << shape;

  workloads::saveCheckpoint(model, dir_);
  rewriteWeights([](auto& tensors) {
    for (auto& t : tensors) {
      if (t.name == "embed_tokens.weight") t.tensor = t.tensor.to(at::kLong);
    }
  });
  auto dtype = lmLoadError();
  EXPECT_NE(dtype.find("tensor 'embed_tokens.weight' has dtype I64, expected F32"),
            std::string::npos)
      << dtype;
}

TEST_F(CheckpointTest, ConfigMustMatchTheWeightsAndTheWorkload) {
  LmModel model(lmTiny, 5, at::kCPU);
  workloads::saveCheckpoint(model, dir_);
  auto wrongKind = testing::inputErrorMessage([&] { workloads::loadMtModel(dir_); });
  EXPECT_NE(wrongKind.find("holds an lm model"), std::string::npos) << wrongKind;

  editConfig([](auto& config) { config["model"]["ffn_dim"] = 64; });
  auto mismatch = lmLoadError();
  EXPECT_NE(mismatch.find("tensor 'decoder.layers.0.ffn.w1' has shape [1, 16, 32], expected "
                          "[1, 16, 64]"),
            std::string::npos)
      << mismatch;

  editConfig([](auto& config) { config["model"]["vocab"] = 1 << 24; });
  auto huge = lmLoadError();
  EXPECT_NE(huge.find("more parameters than"), std::string::npos) << huge;

  editConfig([](auto& config) { config["model"]["heads"] = 3; });
  auto heads = lmLoadError();
  EXPECT_NE(heads.find("model.heads 3 does not divide d_model 16"), std::string::npos) << heads;

  editConfig([](auto& config) { config["schema_version"] = 2; });
  auto version = lmLoadError();
  EXPECT_NE(version.find("schema_version 2"), std::string::npos) << version;

  fs::remove(dir_ / workloads::kCheckpointConfigName);
  auto none = lmLoadError();
  EXPECT_NE(none.find("not a moeprof checkpoint"), std::string::npos) << none;
}

TEST_F(CheckpointTest, WeightsOfAnotherSaveAreRefused) {
  LmModel model(lmTiny, 5, at::kCPU);
  auto other = dir_ / "other";
  workloads::saveCheckpoint(model, dir_);
  workloads::saveCheckpoint(model, other);
  fs::copy_file(other / workloads::kSafetensorsFileName, dir_ / workloads::kSafetensorsFileName,
                fs::copy_options::overwrite_existing);
  auto message = lmLoadError();
  EXPECT_NE(message.find("come from different saves"), std::string::npos) << message;
}

TEST_F(CheckpointTest, ModelWithDroppedExpertsCannotBeSaved) {
  LmModel model(lmTiny, 5, at::kCPU);
  model.dropExperts();
  EXPECT_THROW(workloads::saveCheckpoint(model, dir_), std::invalid_argument);
  EXPECT_FALSE(fs::exists(dir_ / workloads::kCheckpointConfigName));
}

TEST_F(CheckpointTest, NameMapRenamesStoredTensors) {
  LmModel model(lmTiny, 5, at::kCPU);
  workloads::CheckpointOptions options;
  options.names.add("embed_tokens.weight", "model.decoder.embed_tokens.weight");
  workloads::saveCheckpoint(model, dir_, options);
  auto file = SafetensorsFile::open(dir_ / workloads::kSafetensorsFileName);
  EXPECT_NE(file.find("model.decoder.embed_tokens.weight"), nullptr);
  EXPECT_EQ(file.find("embed_tokens.weight"), nullptr);
  auto loaded = workloads::loadLmModel(dir_, at::kCPU, options.names);
  EXPECT_TRUE(at::equal(testing::lmLogits(loaded, GatingMode::Dynamic),
                        testing::lmLogits(model, GatingMode::Dynamic)));
  auto unmapped = lmLoadError();
  EXPECT_NE(unmapped.find("missing tensors 'embed_tokens.weight'"), std::string::npos) << unmapped;
}

}  // namespace
}  // namespace moeprof
