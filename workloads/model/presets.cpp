#include "workloads/model/presets.h"

#include "collector/errors.h"

namespace moeprof::workloads {

namespace {

struct Shape {
  int64_t dModel, ffnDim, heads, vocab, maxPositions, layers;
};
struct Moe {
  int64_t experts, topK, every;
  double capacityFactor;
};
struct Defaults {
  int64_t batch, seqLen, decodeSteps;
};

ModelConfig makeConfig(std::string name, std::string description, WorkloadKind kind, Shape shape,
                       Moe moe, Defaults defaults, bool large) {
  ModelConfig c;
  c.name = std::move(name);
  c.description = std::move(description);
  c.workload = kind;
  c.dModel = shape.dModel;
  c.ffnDim = shape.ffnDim;
  c.heads = shape.heads;
  c.vocab = shape.vocab;
  c.maxPositions = shape.maxPositions;
  c.layers = shape.layers;
  c.numExperts = moe.experts;
  c.topK = moe.topK;
  c.moeEvery = moe.every;
  c.capacityFactor = moe.capacityFactor;
  c.defaultBatch = defaults.batch;
  c.defaultSeqLen = defaults.seqLen;
  c.defaultDecodeSteps = defaults.decodeSteps;
  c.needsLargeMachine = large;
  return c;
}

ModelConfig denseOf(const ModelConfig& moe, std::string name, std::string description) {
  ModelConfig c = moe;
  c.name = std::move(name);
  c.description = std::move(description);
  c.moe = false;
  c.numExperts = 1;
  c.topK = 1;
  return c;
}

std::vector<ModelConfig> buildPresets() {
  const auto lm = WorkloadKind::Lm;
  const auto mt = WorkloadKind::Mt;
  const Moe lmMoe{512, 2, 2, 0.05};  // paper Table I: E 512, top-2, every 2nd layer, CF 0.05
  const Moe mtMoe{128, 2, 4, 1.0};   // E 128, top-2, every 4th layer, CF 1.0
  std::vector<ModelConfig> p;
  p.push_back(makeConfig("lm-paper", "fairseq MoE LM 52B, exact shape (large machines)", lm,
                         {1024, 4096, 16, 51200, 2048, 24}, lmMoe, {8, 512, 0}, true));
  p.push_back(makeConfig("mt-paper", "NLLB-MoE 54.5B, exact shape (large machines)", mt,
                         {2048, 8192, 16, 256206, 1024, 24}, mtMoe, {48, 32, 32}, true));
  p.push_back(makeConfig("lm-cpu",
                         "LM with the paper's E, k, CF, MoE frequency and layers, "
                         "d_model/FFN/vocab scaled for a CPU",
                         lm, {64, 256, 4, 8192, 1024, 24}, lmMoe, {8, 256, 0}, false));
  p.push_back(makeConfig("mt-cpu",
                         "MT with the paper's E, k, CF, MoE frequency and layers, "
                         "d_model/FFN/vocab scaled for a CPU",
                         mt, {64, 256, 4, 16384, 512, 24}, mtMoe, {48, 16, 16}, false));
  p.push_back(makeConfig("lm-tiny", "tiny LM for tests", lm, {16, 32, 2, 97, 64, 4},
                         {8, 2, 2, 0.05}, {2, 8, 0}, false));
  p.push_back(makeConfig("mt-tiny", "tiny MT for tests", mt, {16, 32, 2, 101, 64, 4},
                         {8, 2, 2, 1.0}, {3, 6, 4}, false));
  p.push_back(
      denseOf(p[0], "lm-dense-paper", "dense counterpart of lm-paper (355M, OPT-350M shape)"));
  p.push_back(denseOf(p[1], "mt-dense-paper", "dense counterpart of mt-paper (NLLB 3.3B shape)"));
  p.push_back(denseOf(p[2], "lm-dense-cpu", "dense counterpart of lm-cpu"));
  p.push_back(denseOf(p[3], "mt-dense-cpu", "dense counterpart of mt-cpu"));
  p.push_back(denseOf(p[4], "lm-dense-tiny", "dense counterpart of lm-tiny"));
  p.push_back(denseOf(p[5], "mt-dense-tiny", "dense counterpart of mt-tiny"));
  const Moe none{1, 1, 1, 1.0};
  p.push_back(
      denseOf(makeConfig("", "", lm, {768, 3072, 12, 50272, 2048, 12}, none, {8, 512, 0}, false),
              "opt-125m", "OPT-125M shape"));
  p.push_back(
      denseOf(makeConfig("", "", lm, {1024, 4096, 16, 50272, 2048, 24}, none, {8, 512, 0}, false),
              "opt-350m", "OPT-350M shape"));
  p.push_back(
      denseOf(makeConfig("", "", lm, {2048, 8192, 32, 50272, 2048, 24}, none, {8, 512, 0}, true),
              "opt-1.3b", "OPT-1.3B shape"));
  return p;
}

}  // namespace

const std::vector<ModelConfig>& allPresets() {
  static const std::vector<ModelConfig> presets = buildPresets();  // constant table
  return presets;
}

const ModelConfig& findPreset(const std::string& name) {
  std::string known;
  for (const auto& preset : allPresets()) {
    if (preset.name == name) return preset;
    known += (known.empty() ? "" : ", ") + preset.name;
  }
  throw InputError("unknown preset '" + name + "' (known: " + known + ")");
}

const char* defaultPresetName(WorkloadKind kind) {
  return kind == WorkloadKind::Lm ? "lm-cpu" : "mt-cpu";
}

}  // namespace moeprof::workloads
