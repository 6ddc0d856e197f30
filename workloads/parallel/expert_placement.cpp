#include "workloads/parallel/expert_placement.h"

#include "analysis/routing_loads.h"
#include "collector/errors.h"
#include "collector/routing_log_identity.h"
#include "collector/run_manifest.h"

namespace moeprof::workloads {

namespace {

// The history's loads, checked against the model that is about to be placed.
analysis::RoutingLoads historyFor(const ModelConfig& model, const std::filesystem::path& history) {
  auto log = placementHistoryLog(history);
  if (!std::filesystem::is_regular_file(log)) {
    throw InputError("--placement-history '" + history.string() + "': no routing log at '" +
                     log.string() + "' (give a run directory of 'moeprof run' or its " +
                     collector::kRoutingLogFileName + ")");
  }
  collector::RoutingLog routing = collector::readRoutingLog(log);
  collector::checkRoutingLogMatchesRun(routing.header, log, log.parent_path());
  if (routing.header.model != model.name) {
    throw InputError("--placement-history '" + history.string() + "' is the routing of model '" +
                     routing.header.model + "', not of " + model.name +
                     ": another model's expert loads say nothing about this one's; record a run "
                     "of " +
                     model.name + " and give that");
  }
  analysis::RoutingLoads loads = analysis::routingLoads(routing);
  const auto layers = static_cast<size_t>(model.moeLayerCount());
  if (loads.numExperts != model.numExperts || loads.layers.size() != layers) {
    throw InputError("--placement-history '" + history.string() +
                     "' is from another model: " + std::to_string(loads.numExperts) +
                     " experts x " + std::to_string(loads.layers.size()) + " MoE layers, but " +
                     model.name + " has " + std::to_string(model.numExperts) + " experts x " +
                     std::to_string(layers) + " MoE layers");
  }
  for (size_t l = 0; l < layers; ++l) {
    if (loads.layers[l].tokens.empty()) {
      throw InputError("--placement-history '" + history.string() + "' has no routing for MoE " +
                       "layer " + std::to_string(l) + ": record it with at least one batch");
    }
  }
  return loads;
}

}  // namespace

analysis::PlacementSpec parseLivePlacement(const std::string& text) {
  analysis::PlacementSpec spec;
  try {
    spec = analysis::parsePlacementSpec(text);
  } catch (const InputError&) {
    throw InputError("--placement '" + text +
                     "' is not one of: roundrobin, greedy, anticorr, eplb, eplb:N");
  }
  if (spec.algorithm == "eplb" && spec.extraReplicas == 0) {
    throw InputError("--placement '" + text +
                     "': eplb:N adds N extra replicas, so N must be at least 1 (eplb alone: one "
                     "per rank); without replicas use --placement greedy");
  }
  return spec;
}

std::filesystem::path placementHistoryLog(const std::filesystem::path& history) {
  return std::filesystem::is_directory(history) ? history / collector::kRoutingLogFileName
                                                : history;
}

std::vector<analysis::Placement> planPlacements(const analysis::PlacementSpec& spec,
                                                const ModelConfig& model, int ranks,
                                                const std::filesystem::path& history) {
  const int experts = static_cast<int>(model.numExperts);
  if (ranks < 1 || experts % ranks != 0) {
    throw InputError("--ranks " + std::to_string(ranks) + " does not divide the " +
                     std::to_string(experts) + " experts of " + model.name +
                     ": allowed are divisors of " + std::to_string(experts) +
                     " (every rank holds E / ranks experts of each MoE layer)");
  }
  const size_t layers = static_cast<size_t>(model.moeLayerCount());
  if (spec.algorithm == "roundrobin") {
    if (!history.empty()) {
      throw InputError(
          "--placement-history applies to --placement greedy or anticorr, not "
          "roundrobin");
    }
    return std::vector<analysis::Placement>(layers, analysis::roundRobinPlacement(experts, ranks));
  }
  if (history.empty()) {
    throw InputError("--placement " + spec.name() +
                     " places experts by their historical load: give --placement-history "
                     "RUN_DIR or routing.bin (a recorded run of the same model), or use "
                     "--placement roundrobin");
  }
  analysis::RoutingLoads loads = historyFor(model, history);
  std::vector<analysis::Placement> placements;
  for (const analysis::LayerLoads& layer : loads.layers) {
    placements.push_back(analysis::choosePlacement(spec, layer.tokens, ranks));
  }
  return placements;
}

}  // namespace moeprof::workloads
