#include "analysis/placement_simulation.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include <nlohmann/json.hpp>

#include "collector/errors.h"

namespace moeprof::analysis {
namespace {

constexpr const char* kAllowedPlacements = "roundrobin, greedy, anticorr, eplb or eplb:N";

std::vector<collector::LayerStack> stacksInOrder(const RoutingLoads& loads) {
  std::vector<collector::LayerStack> stacks;
  for (const LayerLoads& layer : loads.layers) {
    if (std::find(stacks.begin(), stacks.end(), layer.layer.stack) == stacks.end()) {
      stacks.push_back(layer.layer.stack);
    }
  }
  std::sort(stacks.begin(), stacks.end());
  return stacks;
}

PlacementOutcome evaluate(const RoutingLoads& loads, const PlacementSpec& spec, int devices,
                          collector::LayerStack stack) {
  PlacementOutcome outcome{spec.name(), devices, stack};
  for (const LayerLoads& layer : loads.layers) {
    if (layer.layer.stack != stack) continue;
    TraceSplit split = splitTrace(layer.tokens);
    outcome.historyPasses = split.history.size();
    outcome.evaluationPasses = split.evaluation.size();
    LoadMetrics metrics =
        loadMetrics(split.evaluation, choosePlacement(spec, split.history, devices));
    ++outcome.layers;
    outcome.meanPerPassMaxLoad += metrics.perPassMaxLoad;
    outcome.meanPerPassAvgMaxLoad += metrics.perPassAvgMaxLoad;
    outcome.meanPooledMaxLoad += metrics.pooledMaxLoad;
    outcome.worstPerPassMaxLoad = std::max(outcome.worstPerPassMaxLoad, metrics.perPassMaxLoad);
    outcome.worstPooledMaxLoad = std::max(outcome.worstPooledMaxLoad, metrics.pooledMaxLoad);
  }
  outcome.meanPerPassMaxLoad /= outcome.layers;
  outcome.meanPerPassAvgMaxLoad /= outcome.layers;
  outcome.meanPooledMaxLoad /= outcome.layers;
  return outcome;
}

}  // namespace

std::string PlacementSpec::name() const {
  if (algorithm != "eplb" || extraReplicas < 0) return algorithm;
  return "eplb:" + std::to_string(extraReplicas);
}

PlacementSpec parsePlacementSpec(const std::string& text) {
  for (const char* simple : {"roundrobin", "greedy", "anticorr"}) {
    if (text == simple) return {text, 0};
  }
  if (text == "eplb") return {"eplb", -1};
  if (text.rfind("eplb:", 0) == 0) {
    int replicas = 0;
    const char* begin = text.data() + 5;
    const char* end = text.data() + text.size();
    auto [stop, error] = std::from_chars(begin, end, replicas);
    if (begin != end && error == std::errc() && stop == end && replicas >= 0) {
      return {"eplb", replicas};
    }
  }
  throw InputError("placement '" + text + "' is unknown (allowed: " + kAllowedPlacements +
                   " with N >= 0 extra replicas)");
}

Placement choosePlacement(const PlacementSpec& spec, const LoadTrace& history, int numDevices) {
  if (spec.algorithm == "roundrobin") {
    int experts = history.empty() ? 0 : static_cast<int>(history.front().size());
    return roundRobinPlacement(experts, numDevices);
  }
  std::vector<double> load = totalLoad(history);
  if (spec.algorithm == "greedy") return greedyPlacement(load, numDevices);
  if (spec.algorithm == "anticorr") {
    return antiCorrelationPlacement(load, loadCorrelation(history), numDevices);
  }
  if (spec.algorithm == "eplb") {
    return replicatedPlacement(load, numDevices,
                               spec.extraReplicas < 0 ? numDevices : spec.extraReplicas);
  }
  throw InputError("placement '" + spec.algorithm + "' is unknown (allowed: " + kAllowedPlacements +
                   ")");
}

PlacementSimulation simulatePlacements(const RoutingLoads& loads, const std::string& model,
                                       const std::vector<PlacementSpec>& placements,
                                       const std::vector<int>& devices) {
  if (placements.empty() || devices.empty()) {
    throw InputError("placement simulation needs at least one placement and one device count");
  }
  if (loads.layers.empty()) throw InputError("the routing log has no MoE layers");
  PlacementSimulation simulation{model, loads.numExperts};
  for (const PlacementSpec& spec : placements) {
    for (int count : devices) {
      for (collector::LayerStack stack : stacksInOrder(loads)) {
        simulation.outcomes.push_back(evaluate(loads, spec, count, stack));
      }
    }
  }
  return simulation;
}

std::string placementSimulationJson(const PlacementSimulation& simulation) {
  nlohmann::json json = {{"model", simulation.model},
                         {"experts", simulation.numExperts},
                         {"outcomes", nlohmann::json::array()}};
  for (const PlacementOutcome& o : simulation.outcomes) {
    json["outcomes"].push_back({{"placement", o.placement},
                                {"devices", o.devices},
                                {"stack", collector::layerStackName(o.stack)},
                                {"layers", o.layers},
                                {"history_passes", o.historyPasses},
                                {"evaluation_passes", o.evaluationPasses},
                                {"mean_per_pass_max_load", o.meanPerPassMaxLoad},
                                {"mean_per_pass_avg_max_load", o.meanPerPassAvgMaxLoad},
                                {"mean_pooled_max_load", o.meanPooledMaxLoad},
                                {"worst_per_pass_max_load", o.worstPerPassMaxLoad},
                                {"worst_pooled_max_load", o.worstPooledMaxLoad}});
  }
  return json.dump(2) + "\n";
}

std::string placementSimulationCsv(const PlacementSimulation& simulation) {
  std::ostringstream out;
  out.precision(17);
  out << "placement,devices,stack,layers,history_passes,evaluation_passes,"
         "mean_per_pass_max_load,mean_per_pass_avg_max_load,mean_pooled_max_load,"
         "worst_per_pass_max_load,worst_pooled_max_load\n";
  for (const PlacementOutcome& o : simulation.outcomes) {
    out << o.placement << ',' << o.devices << ',' << collector::layerStackName(o.stack) << ','
        << o.layers << ',' << o.historyPasses << ',' << o.evaluationPasses << ','
        << o.meanPerPassMaxLoad << ',' << o.meanPerPassAvgMaxLoad << ',' << o.meanPooledMaxLoad
        << ',' << o.worstPerPassMaxLoad << ',' << o.worstPooledMaxLoad << '\n';
  }
  return out.str();
}

}  // namespace moeprof::analysis
