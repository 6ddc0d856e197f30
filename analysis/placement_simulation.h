#pragma once
// Replays a routing log through expert placements (paper, optimization 3): for each MoE layer the
// placement is chosen on the first half of its forward passes and judged on the second half, as
// the paper evaluates it. What `moeprof simulate --placement` prints; live expert-parallel runs
// choose their placement with the same choosePlacement().
#include <string>
#include <vector>

#include "analysis/placement.h"
#include "analysis/routing_loads.h"

namespace moeprof::analysis {

// A placement algorithm by name: "roundrobin", "greedy", "anticorr", or "eplb:N" (EPLB-style
// replication with N extra replicas; "eplb" alone means one extra replica per device).
struct PlacementSpec {
  std::string algorithm;  // roundrobin, greedy, anticorr, eplb
  int extraReplicas = 0;  // eplb only; -1: one per device
  std::string name() const;
};
// Throws InputError naming the value and the allowed ones.
PlacementSpec parsePlacementSpec(const std::string& text);

// The placement `spec` chooses for numDevices devices from a history of one layer's loads
// (rows: forward passes, columns: experts), on each expert's totalLoad() over the history (whole
// tokens, so that ties are exact). Round-robin ignores the history. Throws InputError
// when the history is empty for an algorithm that needs one, or numDevices does not fit.
Placement choosePlacement(const PlacementSpec& spec, const LoadTrace& history, int numDevices);

// One placement on one device count, summarised over the MoE layers of one stack.
struct PlacementOutcome {
  std::string placement;  // spec.name()
  int devices = 0;
  collector::LayerStack stack = collector::LayerStack::Lm;
  int layers = 0;
  uint64_t historyPasses = 0;     // forward passes per layer the placement was chosen on
  uint64_t evaluationPasses = 0;  // and judged on (decoder layers: one per decoding step)
  // Means over the stack's layers of each layer's LoadMetrics on the evaluation half: both
  // readings of Max Load (analysis/placement.h). The per-pass ones are the paper's.
  double meanPerPassMaxLoad = 0;     // the paper's Max Load
  double meanPerPassAvgMaxLoad = 0;  // the paper's Avg Max Load
  double meanPooledMaxLoad = 0;
  double worstPerPassMaxLoad = 0;  // the largest per-pass Max Load of any layer
  double worstPooledMaxLoad = 0;   // the largest pooled Max Load of any layer
};

struct PlacementSimulation {
  std::string model;
  uint32_t numExperts = 0;
  // In the order placements x devices x stacks (stacks in model order: lm, encoder, decoder).
  std::vector<PlacementOutcome> outcomes;
};

// Every placement at every device count. Throws InputError for a bad spec, a device count that
// does not divide the experts (or cannot hold eplb's replicas), or fewer than 2 passes per layer.
PlacementSimulation simulatePlacements(const RoutingLoads& loads, const std::string& model,
                                       const std::vector<PlacementSpec>& placements,
                                       const std::vector<int>& devices);

// As JSON (the log's shape and one object per outcome) and CSV (header
// placement,devices,stack,layers,history_passes,evaluation_passes,mean_per_pass_max_load,
// mean_per_pass_avg_max_load,mean_pooled_max_load,worst_per_pass_max_load,
// worst_pooled_max_load); the JSON keys are the same names.
std::string placementSimulationJson(const PlacementSimulation& simulation);
std::string placementSimulationCsv(const PlacementSimulation& simulation);

}  // namespace moeprof::analysis
