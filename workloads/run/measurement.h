#pragma once
// What a run measures for one workload phase (LM forward, LM generation, MT encoder, MT decoder):
// latency per unit (a batch, or a decoding step), the phase breakdown, throughput, waste, drops
// and peak activation memory; and its JSON form in run.json's metrics.
#include <array>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "collector/phase_timer.h"
#include "workloads/model/moe_layer.h"

namespace moeprof::workloads {

struct PhaseMeasurement {
  std::vector<double> latencyMs;  // one per unit
  std::array<double, collector::kPhaseCount> phaseMsTotal{};
  // Per unit, for comparisons on samples (run.json: PHASE.samples.phase_ms.NAME).
  std::array<std::vector<double>, collector::kPhaseCount> phaseMsPerUnit;
  double wallMsTotal = 0;
  int64_t tokens = 0;
  MoeCounters counters;
  int64_t peakActivationBytes = 0;
  std::vector<int64_t> rowsReceivedPerUnit;  // expert parallel: what this rank's experts got

  // Adds one measured unit; `timer` holds the phase times of that unit only.
  void addUnit(double wallMs, const collector::PhaseTimer& timer, int64_t unitTokens,
               const MoeCounters& unitCounters);
  nlohmann::json toJson() const;
};

// Linear interpolation between closest ranks (numpy's default); p in [0, 100].
double percentile(std::vector<double> values, double p);

}  // namespace moeprof::workloads
