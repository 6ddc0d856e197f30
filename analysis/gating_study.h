#pragma once
// The gating study: the measured phases of a set of runs (static MoE, dynamic MoE, dense), the
// gain of dynamic over static gating for each phase and batch, and the gap between an MoE model
// and its dense counterpart. The paper's figures for the same findings are in
// reports/paper_figures.json.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analysis/statistics.h"
#include "collector/run_manifest.h"

namespace moeprof::analysis {

// One measured phase (LM "forward"/"generate", MT "encoder"/"decoder") of one run.
struct PhasePoint {
  std::string runDir;
  std::string preset;
  std::string workload;  // "lm", "mt"
  std::string gating;    // "static", "dynamic", or "none" for dense models
  int64_t batch = 0;
  int64_t layers = 0;  // the model's depth and width: a dense counterpart has the same
  int64_t dModel = 0;
  int64_t experts = 0;  // per MoE layer; 0 for a dense model
  std::string phase;
  double tokensPerS = 0;
  double latencyMedianMs = 0;
  double latencyP90Ms = 0;
  double wasteFactor = 1;
  int64_t droppedTokens = 0;
  int64_t peakActivationBytes = 0;     // of this phase
  int64_t runPeakActivationBytes = 0;  // of the whole run (all phases)
  int64_t peakWeightBytes = 0;
  std::map<std::string, double> phaseMs;  // gate, dispatch, experts, combine, attention, other
  // Every measured unit's latency (a batch, or one decoding step); empty for runs recorded
  // before run.json kept samples.
  std::vector<double> latencySamplesMs;
};

// Throws InputError naming the run when it is incomplete or lacks a metric.
std::vector<PhasePoint> phasePoints(const collector::RunManifest& manifest,
                                    const std::string& runDir);

// Dynamic vs static gating on the same preset, phase and batch.
struct GatingGain {
  PhasePoint staticRun;
  PhasePoint dynamicRun;
  double throughputGain = 0;    // dynamic tokens/s over static tokens/s
  double activationChange = 0;  // run peak activation, dynamic / static - 1 (negative: less)
};
std::vector<GatingGain> gatingGains(const std::vector<PhasePoint>& points);

// The 95% bootstrap interval (analysis/statistics.h) of a gain, measured on the runs' per-unit
// latencies: the static run's median unit latency over the dynamic run's, which for the same
// tokens per unit is the throughput gain. nullopt when a run kept no samples.
std::optional<RatioInterval> gainInterval(const GatingGain& gain);

// An MoE model (static gating, the paper's baseline) against its dense counterpart.
struct DenseGap {
  PhasePoint moeRun;
  PhasePoint denseRun;
  double latencyRatio = 0;  // MoE median latency over dense median latency
};
std::vector<DenseGap> denseGaps(const std::vector<PhasePoint>& points);

}  // namespace moeprof::analysis
