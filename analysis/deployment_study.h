#pragma once
// The deployment study of `moeprof reproduce --deployment`: live runs with Expert Buffering
// (--buffering, --cache-slots, --prefetch) and with expert parallelism (--ranks, --placement),
// read from run.json, and their pairings on the same model, batch and phase: buffered against
// unbuffered, pre-gated and all-prefetch against on-demand fetching, and each balanced
// placement against round-robin. The paper's figures for the same findings are in
// reports/paper_figures.json.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/gating_study.h"
#include "collector/run_manifest.h"

namespace moeprof::analysis {

// What Expert Buffering recorded (run.json metrics.buffering, config.buffering).
struct BufferingFigures {
  std::string policy;                 // eviction policy: "lifo", ...
  std::string prefetch;               // "off" (on demand), "pregate", "oracle", "all"
  int64_t slotsPerLayer = 0;          // expert slots per MoE layer
  int64_t unbufferedWeightBytes = 0;  // every expert resident
  double staticMemoryReduction = 1;   // unbuffered weight bytes / buffered resident weight bytes
  double stallMs = 0;                 // computation waiting for expert reads (slowest rank)
  int64_t bytesMoved = 0;             // read from the slow tier
  double missRate = 0;
  std::optional<double> prefetchPrecision;  // single rank, with a prefetch mode
  std::optional<double> prefetchRecall;
};

// One measured phase of a deployment run.
struct DeploymentPoint {
  PhasePoint phase;
  std::optional<BufferingFigures> buffering;  // absent: every expert resident
  int64_t ranks = 1;
  std::string placement = "roundrobin";
  std::optional<double> perPassMaxLoad;  // multi-rank: the placement's mean per-pass Max Load
};

// Milliseconds per unit in the MoE block: gate, dispatch, experts (with any wait for expert
// reads) and combine.
double moeBlockMs(const PhasePoint& p);

// Throws InputError naming the run when it is incomplete or lacks a metric.
std::vector<DeploymentPoint> deploymentPoints(const collector::RunManifest& manifest,
                                              const std::string& runDir);

// Expert Buffering fetching on demand against every expert resident, one rank each.
struct BufferingCost {
  DeploymentPoint unbuffered;
  DeploymentPoint buffered;
  double latencyRatio = 0;  // buffered median latency over unbuffered
};
std::vector<BufferingCost> bufferingCosts(const std::vector<DeploymentPoint>& points);

// Pre-gated MoE's comparison, buffering on, one rank each: on-demand fetching, pre-gated
// prefetching of the next layer's experts, and prefetching all of them (when run).
struct PrefetchComparison {
  DeploymentPoint onDemand;
  DeploymentPoint pregated;
  std::optional<DeploymentPoint> prefetchAll;
  double throughputGain = 0;               // pre-gated tokens/s over on-demand tokens/s
  double blockGainOverOnDemand = 0;        // on-demand MoE block ms over pre-gated
  std::optional<double> blockGainOverAll;  // all-prefetch MoE block ms over pre-gated
};
std::vector<PrefetchComparison> prefetchComparisons(const std::vector<DeploymentPoint>& points);

// A balanced placement (greedy, anticorr, ...) against round-robin at the same rank count,
// every expert resident.
struct PlacementGain {
  DeploymentPoint roundRobin;
  DeploymentPoint balanced;
  double throughputChange = 0;  // balanced tokens/s over round-robin tokens/s, minus 1
};
std::vector<PlacementGain> placementGains(const std::vector<DeploymentPoint>& points);

}  // namespace moeprof::analysis
