#include "analysis/gating_study.h"

#include "collector/errors.h"

namespace moeprof::analysis {

namespace {

const nlohmann::json& require(const nlohmann::json& node, const char* key, const std::string& run) {
  if (!node.is_object() || !node.contains(key)) {
    throw InputError("run " + run + ": run.json lacks the metric '" + key + "'");
  }
  return node.at(key);
}

PhasePoint readPhase(const collector::RunManifest& m, const std::string& runDir,
                     const std::string& phase) {
  const auto& metrics = m.metrics.at(phase);
  PhasePoint p;
  p.runDir = runDir;
  p.preset = m.config.value("preset", "");
  p.workload = m.config.value("workload", "");
  p.gating = m.config.value("gating", "none");
  p.batch = m.config.value("batch", 0);
  if (auto model = m.config.find("model"); model != m.config.end() && model->is_object()) {
    p.layers = model->value("layers", 0);
    p.dModel = model->value("d_model", 0);
    p.experts = model->value("experts", 0);
  }
  p.phase = phase;
  p.tokensPerS = require(metrics, "tokens_per_s", runDir).get<double>();
  const auto& latency = require(metrics, "latency_ms", runDir);
  p.latencyMedianMs = require(latency, "median", runDir).get<double>();
  p.latencyP90Ms = require(latency, "p90", runDir).get<double>();
  p.wasteFactor = require(metrics, "waste_factor", runDir).get<double>();
  p.droppedTokens = require(metrics, "dropped_tokens", runDir).get<int64_t>();
  p.peakActivationBytes = require(metrics, "peak_activation_bytes", runDir).get<int64_t>();
  p.runPeakActivationBytes = require(m.metrics, "peak_activation_bytes", runDir).get<int64_t>();
  p.peakWeightBytes = require(m.metrics, "peak_weight_bytes", runDir).get<int64_t>();
  for (const auto& [name, ms] : require(metrics, "phase_ms", runDir).items()) {
    p.phaseMs[name] = ms.get<double>();
  }
  if (auto samples = metrics.find("samples"); samples != metrics.end()) {
    p.latencySamplesMs = samples->value("latency_ms", std::vector<double>{});
  }
  return p;
}

bool samePoint(const PhasePoint& a, const PhasePoint& b) {
  return a.workload == b.workload && a.phase == b.phase && a.batch == b.batch;
}

// A dense model is the counterpart of an MoE model of the same depth and width (a trained
// 4-block model is not compared with a 24-block dense preset).
bool sameShape(const PhasePoint& a, const PhasePoint& b) {
  return a.layers == b.layers && a.dModel == b.dModel;
}

}  // namespace

std::vector<PhasePoint> phasePoints(const collector::RunManifest& manifest,
                                    const std::string& runDir) {
  if (manifest.status != collector::RunStatus::Complete) {
    throw InputError("run " + runDir + " is incomplete (it stopped before writing its metrics)");
  }
  std::vector<PhasePoint> points;
  for (const char* phase : {"forward", "generate", "encoder", "decoder"}) {
    if (manifest.metrics.contains(phase)) points.push_back(readPhase(manifest, runDir, phase));
  }
  if (points.empty()) throw InputError("run " + runDir + " has no measured phase in its metrics");
  return points;
}

std::vector<GatingGain> gatingGains(const std::vector<PhasePoint>& points) {
  std::vector<GatingGain> gains;
  for (const auto& s : points) {
    if (s.gating != "static") continue;
    for (const auto& d : points) {
      if (d.gating != "dynamic" || d.preset != s.preset || !samePoint(s, d)) continue;
      double activation = s.runPeakActivationBytes > 0
                              ? static_cast<double>(d.runPeakActivationBytes) /
                                        static_cast<double>(s.runPeakActivationBytes) -
                                    1.0
                              : 0.0;
      gains.push_back({s, d, s.tokensPerS > 0 ? d.tokensPerS / s.tokensPerS : 0.0, activation});
    }
  }
  return gains;
}

std::optional<RatioInterval> gainInterval(const GatingGain& gain) {
  const auto& staticMs = gain.staticRun.latencySamplesMs;
  const auto& dynamicMs = gain.dynamicRun.latencySamplesMs;
  if (staticMs.empty() || dynamicMs.empty()) return std::nullopt;
  BootstrapOptions options;
  options.seed = metricSeed(options.seed, gain.staticRun.runDir + gain.staticRun.phase);
  const RatioInterval interval = bootstrapMedianRatio(dynamicMs, staticMs, options);
  if (!interval.defined) return std::nullopt;
  return interval;
}

std::vector<DenseGap> denseGaps(const std::vector<PhasePoint>& points) {
  std::vector<DenseGap> gaps;
  for (const auto& moe : points) {
    if (moe.gating != "static") continue;
    for (const auto& dense : points) {
      if (dense.gating != "none" || !samePoint(moe, dense) || !sameShape(moe, dense)) continue;
      double ratio = dense.latencyMedianMs > 0 ? moe.latencyMedianMs / dense.latencyMedianMs : 0;
      gaps.push_back({moe, dense, ratio});
    }
  }
  return gaps;
}

}  // namespace moeprof::analysis
