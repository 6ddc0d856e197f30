#include "analysis/device_cache_simulation.h"

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis/routing_loads.h"
#include "collector/errors.h"

namespace moeprof::analysis {
namespace {

void add(CacheCounts& sum, const CacheCounts& counts) {
  sum.accesses += counts.accesses;
  sum.misses += counts.misses;
  sum.evictions += counts.evictions;
}

// Each layer's placement, chosen on the first half of its passes.
std::vector<Placement> placementsOnHistory(const RoutingLoads& loads, const PlacementSpec& spec,
                                           int devices) {
  if (spec.algorithm == "eplb") {
    throw InputError("placement '" + spec.name() +
                     "' replicates experts, and how replicas split their tokens is not in the "
                     "routing log: per-device cache replay takes roundrobin, greedy or anticorr");
  }
  std::vector<Placement> placements;
  for (const LayerLoads& layer : loads.layers) {
    placements.push_back(choosePlacement(spec, splitTrace(layer.tokens).history, devices));
  }
  return placements;
}

nlohmann::json countsJson(const CacheCounts& counts) {
  return {{"accesses", counts.accesses},
          {"misses", counts.misses},
          {"evictions", counts.evictions},
          {"miss_rate", counts.missRate()}};
}

void csvRow(std::ostream& out, const DeviceCacheOutcome& o, const std::string& device,
            const CacheCounts& counts) {
  out << o.policy << ',' << o.placement << ',' << o.devices << ',' << o.slots << ',' << device
      << ',' << counts.accesses << ',' << counts.misses << ',' << counts.evictions << ','
      << counts.missRate() << '\n';
}

}  // namespace

std::vector<CacheCounts> replayDeviceCaches(const collector::RoutingLog& log,
                                            const std::vector<Placement>& placements,
                                            const std::string& policy, uint32_t slots,
                                            const std::vector<uint64_t>& skipPasses) {
  const auto traces = buildDeviceAccessTraces(log, placements, skipPasses);
  std::vector<CacheCounts> perDevice(traces.size());
  for (size_t d = 0; d < traces.size(); ++d) {
    for (const AccessTrace& trace : traces[d]) add(perDevice[d], replayTrace(trace, policy, slots));
  }
  return perDevice;
}

double DeviceCacheOutcome::maxDeviceMissRate() const {
  double worst = 0;
  for (const CacheCounts& counts : perDevice) worst = std::max(worst, counts.missRate());
  return worst;
}

const char* deviceReplayName(DeviceReplay replay) {
  return replay == DeviceReplay::Judged ? "judged" : "all";
}

DeviceReplay parseDeviceReplay(const std::string& name) {
  if (name == "judged") return DeviceReplay::Judged;
  if (name == "all") return DeviceReplay::All;
  throw InputError("device cache replay '" + name + "' is unknown (allowed: judged, all)");
}

DeviceCacheSimulation simulateDeviceCaches(const collector::RoutingLog& log,
                                           const std::vector<std::string>& policies,
                                           const std::vector<uint32_t>& slots,
                                           const std::vector<PlacementSpec>& placements,
                                           const std::vector<int>& devices, DeviceReplay replay) {
  checkCacheArguments(log.header, policies, slots);
  if (placements.empty() || devices.empty()) {
    throw InputError("per-device cache replay needs at least one placement and one device count");
  }
  const RoutingLoads loads = routingLoads(log);
  std::vector<uint64_t> skip;
  DeviceCacheSimulation result{log.header.model, static_cast<uint32_t>(log.header.layers.size()),
                               log.header.numExperts, log.header.topK, replay};
  for (const LayerLoads& layer : loads.layers) {
    skip.push_back(replay == DeviceReplay::Judged ? layer.tokens.size() / 2 : 0);
    result.replayedRecords += layer.tokens.size() - skip.back();
  }
  const Placement oneDevice = roundRobinPlacement(static_cast<int>(log.header.numExperts), 1);
  const std::vector<Placement> single(log.header.layers.size(), oneDevice);
  for (const std::string& policy : policies) {
    std::vector<CacheCounts> singleCounts;
    for (uint32_t count : slots) {
      singleCounts.push_back(replayDeviceCaches(log, single, policy, count, skip).front());
    }
    for (const PlacementSpec& spec : placements) {
      for (int count : devices) {
        const std::vector<Placement> chosen = placementsOnHistory(loads, spec, count);
        for (size_t s = 0; s < slots.size(); ++s) {
          DeviceCacheOutcome outcome{policy, spec.name(), count, slots[s]};
          outcome.perDevice = replayDeviceCaches(log, chosen, policy, slots[s], skip);
          for (const CacheCounts& counts : outcome.perDevice) add(outcome.total, counts);
          outcome.oneDevice = singleCounts[s];
          result.outcomes.push_back(std::move(outcome));
        }
      }
    }
  }
  return result;
}

std::string deviceCacheSimulationJson(const DeviceCacheSimulation& simulation) {
  nlohmann::json json = {{"model", simulation.model},
                         {"layers", simulation.numLayers},
                         {"experts", simulation.numExperts},
                         {"top_k", simulation.topK},
                         {"replay", deviceReplayName(simulation.replay)},
                         {"replayed_records", simulation.replayedRecords},
                         {"outcomes", nlohmann::json::array()}};
  for (const DeviceCacheOutcome& o : simulation.outcomes) {
    nlohmann::json perDevice = nlohmann::json::array();
    for (const CacheCounts& counts : o.perDevice) perDevice.push_back(countsJson(counts));
    json["outcomes"].push_back({{"policy", o.policy},
                                {"placement", o.placement},
                                {"devices", o.devices},
                                {"slots", o.slots},
                                {"per_device", std::move(perDevice)},
                                {"total", countsJson(o.total)},
                                {"max_device_miss_rate", o.maxDeviceMissRate()},
                                {"one_device", countsJson(o.oneDevice)}});
  }
  return json.dump(2) + "\n";
}

std::string deviceCacheSimulationCsv(const DeviceCacheSimulation& simulation) {
  std::ostringstream out;
  out.precision(17);
  out << "policy,placement,devices,slots,device,accesses,misses,evictions,miss_rate\n";
  for (const DeviceCacheOutcome& o : simulation.outcomes) {
    for (size_t d = 0; d < o.perDevice.size(); ++d)
      csvRow(out, o, std::to_string(d), o.perDevice[d]);
    csvRow(out, o, "total", o.total);
    csvRow(out, o, "one_device", o.oneDevice);
  }
  return out.str();
}

}  // namespace moeprof::analysis
