#pragma once
// Tokens per device under a placement, as `moeprof simulate --placement` judges it (chosen on
// the first half of each layer's passes, judged on the second): the per-device totals behind a
// PlacementOutcome's Max Load and Avg Max Load, for charts that show where the load went.
#include <vector>

#include "analysis/placement_simulation.h"
#include "analysis/routing_loads.h"

namespace moeprof::analysis {

struct DeviceLoads {
  std::string placement{};  // PlacementSpec::name()
  int devices = 0;
  collector::LayerStack stack = collector::LayerStack::Lm;
  int layers = 0;
  // Tokens each device processed, summed over the evaluation passes of the stack's layers.
  std::vector<double> tokens{};
  // As PlacementOutcome: means over the stack's layers of both readings of Max Load.
  double meanPerPassMaxLoad = 0;     // the paper's Max Load
  double meanPerPassAvgMaxLoad = 0;  // the paper's Avg Max Load
  double meanPooledMaxLoad = 0;
};

// Throws InputError as simulatePlacements does (bad spec or device count, fewer than 2 passes),
// and when the log has no layer of `stack`.
DeviceLoads deviceLoads(const RoutingLoads& loads, const PlacementSpec& spec, int devices,
                        collector::LayerStack stack);

}  // namespace moeprof::analysis
