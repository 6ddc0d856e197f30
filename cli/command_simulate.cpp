#include <charconv>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/cache_simulation.h"
#include "analysis/device_cache_simulation.h"
#include "analysis/placement_simulation.h"
#include "analysis/routing_order.h"
#include "cli/app.h"
#include "cli/list_flags.h"
#include "collector/atomic_file.h"
#include "collector/errors.h"
#include "collector/routing_log.h"
#include "collector/routing_log_identity.h"
#include "collector/run_manifest.h"
#include "reports/table.h"

#include <nlohmann/json.hpp>

namespace moeprof::cli {

namespace {

// "A..B" is a range: the counts in it that the model allows (topK to experts) are simulated and
// the others skipped with a note, so "1..16" works for any model. A single count or a list names
// counts explicitly, and one the model does not allow is an error (simulateCaches says why).
std::vector<uint32_t> resolveSlots(const std::string& text, uint32_t topK, uint32_t experts) {
  SlotCounts slots = parseSlotCounts(text);
  if (!slots.range) return slots.counts;
  const uint32_t low = slots.counts.front(), high = slots.counts.back();
  std::vector<uint32_t> counts;
  for (uint32_t count = std::max(low, topK); count <= std::min(high, experts); ++count) {
    counts.push_back(count);
  }
  if (counts.empty()) {
    throw InputError("--slots '" + text +
                     "': no slot count in the range is allowed (allowed: " + std::to_string(topK) +
                     " (topK) to " + std::to_string(experts) + " (experts per layer))");
  }
  if (low < topK || high > experts) {
    std::cerr << "moeprof: note: --slots " << text << " simulates " << counts.front() << ".."
              << counts.back() << " (allowed for this model: " << topK << " to " << experts
              << ")\n";
  }
  return counts;
}

reports::Table missRateTable(const analysis::CacheSimulation& simulation) {
  std::vector<std::string> headers = {"slots"};
  std::vector<reports::Align> alignments = {reports::Align::Right};
  for (const auto& curve : simulation.curves) {
    headers.push_back(curve.policy);
    alignments.push_back(reports::Align::Right);
  }
  reports::Table table(headers, alignments);
  if (simulation.curves.empty()) return table;
  for (size_t i = 0; i < simulation.curves.front().points.size(); ++i) {
    std::vector<std::string> row = {std::to_string(simulation.curves.front().points[i].slots)};
    for (const auto& curve : simulation.curves) {
      row.push_back(reports::formatNumber(curve.points[i].counts.missRate(), 3));
    }
    table.addRow(std::move(row));
  }
  return table;
}

reports::Table placementTable(const analysis::PlacementSimulation& simulation) {
  std::vector<reports::Align> alignments(10, reports::Align::Right);
  alignments[0] = alignments[2] = reports::Align::Left;
  reports::Table table({"placement", "devices", "stack", "chosen on", "judged on", "max load/pass",
                        "avg max load/pass", "worst layer/pass", "pooled max load", "perfect"},
                       alignments);
  for (const auto& o : simulation.outcomes) {
    table.addRow({o.placement, std::to_string(o.devices), collector::layerStackName(o.stack),
                  std::to_string(o.historyPasses), std::to_string(o.evaluationPasses),
                  reports::formatNumber(o.meanPerPassMaxLoad, 3),
                  reports::formatNumber(o.meanPerPassAvgMaxLoad, 3),
                  reports::formatNumber(o.worstPerPassMaxLoad, 3),
                  reports::formatNumber(o.meanPooledMaxLoad, 3),
                  reports::formatNumber(1.0 / o.devices, 3)});
  }
  return table;
}

// Per device: "0.412 0.398", the miss rate of each device's caches.
std::string perDeviceRates(const analysis::DeviceCacheOutcome& outcome) {
  std::string rates;
  for (const auto& counts : outcome.perDevice) {
    rates += (rates.empty() ? "" : " ") + reports::formatNumber(counts.missRate(), 3);
  }
  return rates;
}

reports::Table deviceCacheTable(const analysis::DeviceCacheSimulation& simulation) {
  std::vector<reports::Align> alignments(9, reports::Align::Right);
  alignments[0] = alignments[1] = alignments[6] = reports::Align::Left;
  reports::Table table({"policy", "placement", "devices", "slots", "misses", "miss rate",
                        "per device", "worst device", "1 device"},
                       alignments);
  for (const auto& o : simulation.outcomes) {
    table.addRow({o.policy, o.placement, std::to_string(o.devices), std::to_string(o.slots),
                  std::to_string(o.total.misses), reports::formatNumber(o.total.missRate(), 3),
                  perDeviceRates(o), reports::formatNumber(o.maxDeviceMissRate(), 3),
                  reports::formatNumber(o.oneDevice.missRate(), 3)});
  }
  return table;
}

void printDeviceCaches(const analysis::DeviceCacheSimulation& simulation) {
  std::cout << "Expert cache miss rate per device under each placement, model " << simulation.model
            << ": every device keeps `slots` slots per MoE layer for the "
            << "experts placed on it; each layer's placement chosen on the first half of its "
               "passes, the caches replay "
            << (simulation.replay == analysis::DeviceReplay::Judged ? "the second half"
                                                                    : "every pass")
            << " (" << simulation.replayedRecords
            << " layer passes); 1 device: one cache of `slots` per layer over all experts, on "
               "the same passes\n\n"
            << deviceCacheTable(simulation).toText();
}

struct SimulateCommand {
  std::string run;
  std::string policies = "lifo,lru,lfu,fifo,belady";
  std::string slots = "1..16";
  std::string scope = "layer";
  std::string jsonPath;
  std::string csvPath;

  std::string placements;
  std::string stack;  // empty: every MoE layer
  std::string devices = "2,4,8";
  std::string replay = "judged";
  bool cacheAsked = false;

  int execute() const {
    std::filesystem::path logPath = std::filesystem::path(run) / collector::kRoutingLogFileName;
    if (!std::filesystem::is_regular_file(logPath)) {
      throw InputError("'" + run + "' has no " + collector::kRoutingLogFileName +
                       " (expected a run directory written by 'moeprof run' with an MoE model)");
    }
    const bool withPlacement = !placements.empty();
    const bool withCache = cacheAsked || !withPlacement;
    if (withCache && withPlacement && !csvPath.empty()) {
      throw InputError(
          "--csv holds one table: give --cache or --placement, not both, with --csv "
          "(--json holds both)");
    }
    collector::RoutingLog log = collector::readRoutingLog(logPath);
    collector::checkRoutingLogMatchesRun(log.header, logPath, run);
    if (log.records.empty()) {
      throw InputError("routing log " + logPath.string() +
                       " holds no routing (no measured batch was logged: the run stopped before "
                       "its first?); there is nothing to simulate");
    }
    analysis::checkRoutingOrder(log, logPath.string());  // before --stack renumbers anything
    if (!stack.empty()) log = collector::onlyStack(log, collector::parseLayerStack(stack));
    // Everything is computed before any file is written, then the files, then the tables.
    std::optional<analysis::CacheSimulation> caches;
    std::optional<analysis::PlacementSimulation> placement;
    std::optional<analysis::DeviceCacheSimulation> deviceCaches;
    if (withCache) caches = simulateCaches(log);
    if (withPlacement) placement = simulatePlacement(log);
    if (withCache && withPlacement) deviceCaches = simulateDeviceCaches(log);
    if (withCache && withPlacement && !deviceCaches) {
      std::cerr << "moeprof: note: no per-device cache replay: eplb's replicas split tokens in "
                   "ways the routing log does not record (add roundrobin, greedy or anticorr)\n";
    }
    writeFiles(caches, placement, deviceCaches);
    if (caches) printCaches(*caches);
    if (deviceCaches) {
      std::cout << "\n";
      printDeviceCaches(*deviceCaches);
    }
    if (placement) {
      if (caches) std::cout << "\n";
      std::cout << "Expert placement, model " << placement->model << ", " << placement->numExperts
                << " experts: the busiest device's share of tokens, mean over layers; per pass "
                   "(the paper's Max Load and Avg Max Load): the busiest device's share of each "
                   "pass, its maximum and mean over passes; pooled: its share of all judged "
                   "passes' tokens summed; each layer's placement chosen on the first half of its "
                   "forward passes (chosen on), judged on the second (judged on)\n\n"
                << placementTable(*placement).toText();
    }
    return kExitOk;
  }

  analysis::CacheSimulation simulateCaches(const collector::RoutingLog& log) const {
    analysis::CacheScope cacheScope = analysis::parseCacheScope(scope);
    std::vector<uint32_t> counts = resolveSlots(slots, log.header.topK, log.header.numExperts);
    return analysis::simulateCaches(log, splitList(policies), counts, cacheScope);
  }

  std::vector<analysis::PlacementSpec> placementSpecs() const {
    std::vector<analysis::PlacementSpec> specs;
    for (const std::string& item : splitList(placements)) {
      specs.push_back(analysis::parsePlacementSpec(item));
    }
    return specs;
  }

  analysis::PlacementSimulation simulatePlacement(const collector::RoutingLog& log) const {
    return analysis::simulatePlacements(analysis::routingLoads(log), log.header.model,
                                        placementSpecs(), parseDeviceCounts(devices));
  }

  // Per-device caches under every placement that has no replicas (eplb's are left out).
  std::optional<analysis::DeviceCacheSimulation> simulateDeviceCaches(
      const collector::RoutingLog& log) const {
    std::vector<analysis::PlacementSpec> specs;
    for (const analysis::PlacementSpec& spec : placementSpecs()) {
      if (spec.algorithm != "eplb") specs.push_back(spec);
    }
    if (specs.empty()) return std::nullopt;
    std::vector<uint32_t> counts = resolveSlots(slots, log.header.topK, log.header.numExperts);
    return analysis::simulateDeviceCaches(log, splitList(policies), counts, specs,
                                          parseDeviceCounts(devices),
                                          analysis::parseDeviceReplay(replay));
  }

  void writeFiles(const std::optional<analysis::CacheSimulation>& caches,
                  const std::optional<analysis::PlacementSimulation>& placement,
                  const std::optional<analysis::DeviceCacheSimulation>& deviceCaches) const {
    if (!jsonPath.empty()) {
      nlohmann::json json = nlohmann::json::object();
      if (caches) json["cache"] = nlohmann::json::parse(analysis::cacheSimulationJson(*caches));
      if (placement) {
        json["placement"] = nlohmann::json::parse(analysis::placementSimulationJson(*placement));
      }
      if (deviceCaches) {
        json["device_cache"] =
            nlohmann::json::parse(analysis::deviceCacheSimulationJson(*deviceCaches));
      }
      collector::writeFileAtomically(jsonPath, json.dump(2) + "\n");
    }
    if (!csvPath.empty()) {
      collector::writeFileAtomically(csvPath, caches
                                                  ? analysis::cacheSimulationCsv(*caches)
                                                  : analysis::placementSimulationCsv(*placement));
    }
  }

  static void printCaches(const analysis::CacheSimulation& simulation) {
    uint64_t accesses = simulation.curves.front().points.front().counts.accesses;
    std::cout << "Expert cache miss rate (misses / accesses), model " << simulation.model << ", "
              << simulation.numLayers << " MoE layers x " << simulation.numExperts
              << " experts, top-" << simulation.topK << ", scope "
              << analysis::cacheScopeName(simulation.scope) << ", " << accesses << " accesses\n\n"
              << missRateTable(simulation).toText();
  }
};

}  // namespace

Action addSimulateCommand(CLI::App& app) {
  auto command = std::make_shared<SimulateCommand>();
  app.add_option("RUN", command->run, "run directory holding routing.bin")->required();
  auto* cacheOption =
      app.add_option(
             "--cache", command->policies,
             "eviction policies, comma-separated: lifo (the paper's), lru, lfu, fifo, belady")
          ->capture_default_str();
  app.add_option("--slots", command->slots,
                 "expert slots per MoE layer: N, a list 2,4,8, or a range A..B (counts outside "
                 "topK..experts are skipped in a range, rejected in a list)")
      ->capture_default_str();
  app.add_option("--scope", command->scope,
                 "layer: one cache per MoE layer; global: one pool of slots x layers")
      ->capture_default_str();
  app.add_option("--placement", command->placements,
                 "also (or, without --cache, only) replay expert placements, comma-separated: "
                 "roundrobin, greedy, anticorr, eplb[:N] (N extra replicas; default one per "
                 "device); chosen on the first half of the log, judged on the second");
  app.add_option("--devices", command->devices,
                 "device counts for --placement, comma-separated; with --cache too, every device "
                 "also replays its own experts' accesses through its own --slots slots per MoE "
                 "layer (the paper's per-GPU caches), beside the single-device curves")
      ->capture_default_str();
  app.add_option("--replay", command->replay,
                 "passes the per-device caches replay: judged (the second half of each layer's "
                 "passes, the placement chosen on the first) or all (every pass: what a live "
                 "--ranks N --buffering run with that placement counts, when it ran without "
                 "warm-up)")
      ->capture_default_str();
  app.add_option("--stack", command->stack,
                 "replay only the MoE layers of one stack: lm, encoder or decoder (the paper "
                 "evaluates Expert Buffering on MT decoder traces); default: all");
  app.add_option("--json", command->jsonPath,
                 "also write the results as JSON: {\"cache\": curves, \"placement\": "
                 "outcomes, \"device_cache\": per-device caches}");
  app.add_option("--csv", command->csvPath,
                 "also write the miss-rate curves (or, with --placement alone, the placement "
                 "outcomes) as CSV");
  return [command, cacheOption] {
    command->cacheAsked = cacheOption->count() > 0;
    return command->execute();
  };
}

}  // namespace moeprof::cli
