// The workload models and presets: shapes, parameter counts, causality, incremental decoding.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "collector/errors.h"
#include "collector/sources/memory_tracker.h"
#include "tests/support/input_error.h"
#include "workloads/model/models.h"
#include "workloads/model/presets.h"

namespace moeprof {
namespace {

using workloads::ForwardContext;
using workloads::GatingMode;
using workloads::LmModel;
using workloads::MtModel;

at::Tensor tokens(int64_t batch, int64_t length, int64_t vocab) {
  return at::randint(4, vocab, {batch, length}, at::TensorOptions().dtype(at::kLong));
}

TEST(Presets, PaperShapesAndCounts) {
  const auto& lm = workloads::findPreset("lm-paper");
  EXPECT_EQ(lm.numExperts, 512);
  EXPECT_EQ(lm.moeLayerCount(), 12);
  EXPECT_NEAR(lm.parameterCount() / 1e9, 52.0, 0.5);  // "fairseq MoE LM, 52B"
  const auto& mt = workloads::findPreset("mt-paper");
  EXPECT_EQ(mt.moeLayerCount(), 12);                  // every 4th of 24 encoder + 24 decoder blocks
  EXPECT_NEAR(mt.parameterCount() / 1e9, 54.5, 0.3);  // "NLLB-MoE, 54.5B"
  EXPECT_NEAR(workloads::findPreset("lm-dense-paper").parameterCount() / 1e6, 355, 5);
  EXPECT_NEAR(workloads::findPreset("mt-dense-paper").parameterCount() / 1e9, 3.3, 0.1);
  EXPECT_NEAR(workloads::findPreset("opt-125m").parameterCount() / 1e6, 125, 2);
}

TEST(Presets, CpuPresetsKeepThePapersMoeStructure) {
  for (const char* family : {"lm", "mt"}) {
    const auto& paper = workloads::findPreset(std::string(family) + "-paper");
    const auto& cpu = workloads::findPreset(std::string(family) + "-cpu");
    EXPECT_EQ(cpu.numExperts, paper.numExperts) << family;
    EXPECT_EQ(cpu.topK, paper.topK) << family;
    EXPECT_EQ(cpu.capacityFactor, paper.capacityFactor) << family;
    EXPECT_EQ(cpu.moeEvery, paper.moeEvery) << family;
    EXPECT_EQ(cpu.layers, paper.layers) << family;
    EXPECT_EQ(cpu.defaultBatch, paper.defaultBatch) << family;
    EXPECT_LT(cpu.weightBytes(), int64_t{4} << 30) << family;
  }
}

TEST(Presets, UnknownPresetNamesTheKnownOnes) {
  auto message = testing::inputErrorMessage([] { workloads::findPreset("lm-huge"); });
  EXPECT_NE(message.find("lm-huge"), std::string::npos);
  EXPECT_NE(message.find("lm-cpu"), std::string::npos);
}

TEST(Models, AllocatedWeightsMatchTheConfigCount) {
  for (const auto& preset : workloads::allPresets()) {
    if (preset.name.find("tiny") == std::string::npos) continue;
    int64_t bytes = preset.workload == workloads::WorkloadKind::Lm
                        ? LmModel(preset, 1, at::kCPU).weightBytes()
                        : MtModel(preset, 1, at::kCPU).weightBytes();
    EXPECT_EQ(bytes, preset.weightBytes()) << preset.name;
  }
}

TEST(LmModel, ForwardShapeAndCausality) {
  const auto& config = workloads::findPreset("lm-tiny");
  LmModel model(config, 3, at::kCPU);
  auto input = tokens(2, 8, config.vocab);
  ForwardContext context;
  context.capacityFactor = 1.0;
  auto logits = model.forward(input, context);
  ASSERT_EQ(logits.sizes(), (at::IntArrayRef{2, 8, config.vocab}));
  auto changed = input.clone();
  changed[0][7] = (input[0][7].item<int64_t>() + 1) % config.vocab;
  auto again = model.forward(changed, context);
  EXPECT_TRUE(at::allclose(logits.narrow(1, 0, 7), again.narrow(1, 0, 7), 1e-5, 1e-6))
      << "a later token changed earlier logits";
  EXPECT_FALSE(at::allclose(logits[0][7], again[0][7]));
}

TEST(LmModel, IncrementalDecodingMatchesFullForward) {
  const auto& config = workloads::findPreset("lm-tiny");
  LmModel model(config, 4, at::kCPU);
  auto input = tokens(2, 6, config.vocab);
  ForwardContext context;  // dynamic gating: no capacity, so token order cannot change routing
  auto full = model.forward(input, context);
  auto caches = model.newCaches();
  auto prefix = model.forward(input.narrow(1, 0, 4), context, &caches);
  auto step5 = model.forward(input.narrow(1, 4, 1), context, &caches);
  auto step6 = model.forward(input.narrow(1, 5, 1), context, &caches);
  EXPECT_TRUE(at::allclose(prefix, full.narrow(1, 0, 4), 1e-4, 1e-5));
  EXPECT_TRUE(at::allclose(step5.squeeze(1), full.select(1, 4), 1e-4, 1e-5));
  EXPECT_TRUE(at::allclose(step6.squeeze(1), full.select(1, 5), 1e-4, 1e-5));
}

TEST(MtModel, EncodeAndDecodeShapesAndRouting) {
  const auto& config = workloads::findPreset("mt-tiny");
  MtModel model(config, 5, at::kCPU);
  ForwardContext context;
  auto encoded = model.encode(tokens(3, 6, config.vocab), context);
  ASSERT_EQ(encoded.sizes(), (at::IntArrayRef{3, 6, config.dModel}));
  EXPECT_EQ(context.counters.expertRowsNeeded, 3 * 6 * 2 * config.moeBlocksPerStack());
  auto caches = model.newCaches();
  auto previous = at::full({3, 1}, MtModel::kBosToken, at::TensorOptions().dtype(at::kLong));
  for (int64_t step = 0; step < 3; ++step) {
    auto logits = model.decodeStep(previous, step, encoded, caches, context);
    ASSERT_EQ(logits.sizes(), (at::IntArrayRef{3, config.vocab}));
    previous = logits.argmax(-1, true);
  }
  EXPECT_EQ(caches[0].selfKeys.size(1), 3);
}

TEST(MemoryTracker, SeesAllocationsAndFreesInsideItsScope) {
  collector::MemoryTracker tracker;
  collector::MemoryTracker::Scope scope(tracker);
  int64_t start = tracker.currentBytes();
  tracker.resetPeak();
  {
    auto big = at::empty({1 << 20}, at::TensorOptions().dtype(at::kFloat));  // 4 MiB
    EXPECT_GE(tracker.currentBytes() - start, 4 << 20);
  }
  EXPECT_EQ(tracker.currentBytes(), start);
  EXPECT_GE(tracker.peakAboveResetBytes(), 4 << 20);
}

TEST(StaticGating, UsesMoreActivationMemoryThanDynamic) {
  const auto& config = workloads::findPreset("lm-tiny");
  LmModel model(config, 6, at::kCPU);
  auto input = tokens(4, 16, config.vocab);
  auto peak = [&](GatingMode gating) {
    collector::MemoryTracker tracker;
    collector::MemoryTracker::Scope scope(tracker);
    tracker.resetPeak();
    ForwardContext context;
    context.gating = gating;
    context.capacityFactor = 1.0;  // (S, E, C) = 64 x 8 x 64 masks
    model.forward(input, context);
    return tracker.peakAboveResetBytes();
  };
  EXPECT_GT(peak(GatingMode::Static), peak(GatingMode::Dynamic) + 64 * 8 * 64 * 4);
}

}  // namespace
}  // namespace moeprof
