#include "workloads/run/measurement.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace moeprof::workloads {

using collector::Phase;

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  size_t low = static_cast<size_t>(std::floor(rank));
  size_t high = std::min(low + 1, values.size() - 1);
  return values[low] + (values[high] - values[low]) * (rank - static_cast<double>(low));
}

void PhaseMeasurement::addUnit(double wallMs, const collector::PhaseTimer& timer,
                               int64_t unitTokens, const MoeCounters& unitCounters) {
  latencyMs.push_back(wallMs);
  wallMsTotal += wallMs;
  tokens += unitTokens;
  const int64_t wallNs = static_cast<int64_t>(wallMs * 1e6);
  for (int i = 0; i < collector::kPhaseCount; ++i) {
    auto phase = static_cast<Phase>(i);
    int64_t ns = phase == Phase::Other ? timer.otherNs(wallNs) : timer.totalNs(phase);
    phaseMsTotal[i] += static_cast<double>(ns) / 1e6;
    phaseMsPerUnit[i].push_back(static_cast<double>(ns) / 1e6);
  }
  counters.expertRowsComputed += unitCounters.expertRowsComputed;
  counters.expertRowsNeeded += unitCounters.expertRowsNeeded;
  counters.droppedAssignments += unitCounters.droppedAssignments;
  counters.droppedTokens += unitCounters.droppedTokens;
  if (unitCounters.allToAllCalls > 0) {
    rowsReceivedPerUnit.push_back(unitCounters.expertRowsReceived);
    counters.expertRowsReceived += unitCounters.expertRowsReceived;
    counters.allToAllCalls += unitCounters.allToAllCalls;
    counters.allToAllBytesSent += unitCounters.allToAllBytesSent;
    counters.allToAllBytesReceived += unitCounters.allToAllBytesReceived;
    counters.allToAllNs += unitCounters.allToAllNs;
  }
}

nlohmann::json PhaseMeasurement::toJson() const {
  const double units = std::max<size_t>(1, latencyMs.size());
  nlohmann::json phases = nlohmann::json::object();
  nlohmann::json phaseSamples = nlohmann::json::object();
  for (int i = 0; i < collector::kPhaseCount; ++i) {
    phases[collector::phaseName(static_cast<Phase>(i))] = phaseMsTotal[i] / units;
    phaseSamples[collector::phaseName(static_cast<Phase>(i))] = phaseMsPerUnit[i];
  }
  double waste = counters.expertRowsNeeded > 0 ? static_cast<double>(counters.expertRowsComputed) /
                                                     static_cast<double>(counters.expertRowsNeeded)
                                               : 1.0;
  nlohmann::json json = {
      {"units", latencyMs.size()},
      {"tokens_per_s", wallMsTotal > 0 ? static_cast<double>(tokens) / (wallMsTotal / 1e3) : 0.0},
      {"latency_ms",
       {{"median", percentile(latencyMs, 50)},
        {"p90", percentile(latencyMs, 90)},
        {"mean", wallMsTotal / units},
        {"min", latencyMs.empty() ? 0.0 : *std::min_element(latencyMs.begin(), latencyMs.end())},
        {"max", latencyMs.empty() ? 0.0 : *std::max_element(latencyMs.begin(), latencyMs.end())}}},
      {"phase_ms", phases},
      // Every unit's time: comparisons test these, not the summaries above (docs/comparisons.md).
      {"samples", {{"latency_ms", latencyMs}, {"phase_ms", phaseSamples}}},
      {"waste_factor", waste},
      {"expert_rows_computed", counters.expertRowsComputed},
      {"expert_rows_needed", counters.expertRowsNeeded},
      {"dropped_tokens", counters.droppedTokens},
      {"dropped_assignments", counters.droppedAssignments},
      {"peak_activation_bytes", peakActivationBytes},
  };
  if (counters.allToAllCalls > 0) {
    json["expert_parallel"] = {
        {"expert_rows_received_per_unit", rowsReceivedPerUnit},
        {"expert_rows_received", counters.expertRowsReceived},
        {"all_to_all_calls", counters.allToAllCalls},
        {"all_to_all_bytes_sent", counters.allToAllBytesSent},
        {"all_to_all_bytes_received", counters.allToAllBytesReceived},
        {"all_to_all_ms", static_cast<double>(counters.allToAllNs) / 1e6},
        {"all_to_all_ms_per_unit", static_cast<double>(counters.allToAllNs) / 1e6 / units},
    };
  }
  return json;
}

}  // namespace moeprof::workloads
