#include "analysis/cache_simulation.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analysis/routing_order.h"
#include "collector/errors.h"

namespace moeprof::analysis {

namespace {

// The distinct experts a record runs, ascending; dropped assignments compute nothing.
void neededExperts(const collector::RoutingRecord& record, std::vector<uint16_t>& out) {
  out.clear();
  for (uint16_t id : record.experts) {
    if ((id & collector::kDroppedFlag) == 0) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

std::string allowedPolicies() {
  std::string allowed;
  for (std::string_view known : kPolicyNames) {
    allowed += (allowed.empty() ? "" : ", ") + std::string(known);
  }
  return allowed;
}

}  // namespace

void checkCacheArguments(const collector::RoutingLogHeader& header,
                         const std::vector<std::string>& policies,
                         const std::vector<uint32_t>& slots) {
  if (policies.empty())
    throw InputError("no cache policy given (allowed: " + allowedPolicies() + ")");
  for (const std::string& policy : policies) {
    if (std::find(std::begin(kPolicyNames), std::end(kPolicyNames), policy) ==
        std::end(kPolicyNames)) {
      throw InputError("unknown cache policy '" + policy + "' (allowed: " + allowedPolicies() +
                       ")");
    }
  }
  if (slots.empty()) throw InputError("no slot count given");
  for (uint32_t count : slots) {
    if (count < header.topK || count > header.numExperts) {
      throw InputError("slot count " + std::to_string(count) + " is out of range for model '" +
                       header.model + "' (allowed: " + std::to_string(header.topK) + " (topK) to " +
                       std::to_string(header.numExperts) + " (experts per layer))");
    }
  }
}

const char* cacheScopeName(CacheScope scope) {
  return scope == CacheScope::Layer ? "layer" : "global";
}

CacheScope parseCacheScope(const std::string& name) {
  if (name == "layer") return CacheScope::Layer;
  if (name == "global") return CacheScope::Global;
  throw InputError("unknown cache scope '" + name + "' (allowed: layer, global)");
}

std::vector<AccessTrace> buildAccessTraces(const collector::RoutingLog& log, CacheScope scope) {
  checkRoutingOrder(log);
  const auto& header = log.header;
  std::vector<AccessTrace> traces(scope == CacheScope::Layer ? header.layers.size() : 1);
  std::vector<uint16_t> experts;
  for (const auto& record : log.records) {
    neededExperts(record, experts);
    if (experts.empty()) continue;  // an empty batch touches no cache
    AccessTrace& trace = traces[scope == CacheScope::Layer ? record.moeLayer : 0];
    // Global keys put layers side by side, so ascending ids stay ascending keys.
    uint32_t layer = scope == CacheScope::Global ? record.moeLayer : 0;
    for (uint16_t expert : experts) {
      trace.keys.push_back(expertKey(layer, expert, header.numExperts));
    }
    trace.batchStarts.push_back(trace.keys.size());
  }
  return traces;
}

namespace {

// deviceOf[l][e]: the device of expert e of layer l. Throws when the placements do not fit.
std::vector<std::vector<int>> devicesOfExperts(const collector::RoutingLogHeader& header,
                                               const std::vector<Placement>& placements) {
  if (placements.size() != header.layers.size()) {
    throw InputError("per-device cache replay needs one placement per MoE layer: got " +
                     std::to_string(placements.size()) + ", the log has " +
                     std::to_string(header.layers.size()) + " layers");
  }
  std::vector<std::vector<int>> deviceOf;
  for (size_t l = 0; l < placements.size(); ++l) {
    const Placement& placement = placements[l];
    if (placement.numExperts() != static_cast<int>(header.numExperts) ||
        placement.numDevices() != placements.front().numDevices()) {
      throw InputError("the placement of MoE layer " + std::to_string(l) + " has " +
                       std::to_string(placement.numExperts()) + " experts on " +
                       std::to_string(placement.numDevices()) + " devices; the log has " +
                       std::to_string(header.numExperts) + " experts per layer");
    }
    std::vector<int> devices(header.numExperts);
    for (int e = 0; e < placement.numExperts(); ++e) {
      if (placement.devicesOf(e).size() != 1) {
        throw InputError(
            "per-device cache replay takes placements without replicas (roundrobin, "
            "greedy, anticorr): expert " +
            std::to_string(e) + " of MoE layer " + std::to_string(l) + " has " +
            std::to_string(placement.devicesOf(e).size()) +
            " replicas, and how they split its tokens is not in the log");
      }
      devices[e] = placement.devicesOf(e).front();
    }
    deviceOf.push_back(std::move(devices));
  }
  return deviceOf;
}

}  // namespace

std::vector<std::vector<AccessTrace>> buildDeviceAccessTraces(
    const collector::RoutingLog& log, const std::vector<Placement>& placements,
    const std::vector<uint64_t>& skipPasses) {
  checkRoutingOrder(log);
  const auto& header = log.header;
  const std::vector<std::vector<int>> deviceOf = devicesOfExperts(header, placements);
  const int numDevices = placements.empty() ? 0 : placements.front().numDevices();
  std::vector<std::vector<AccessTrace>> traces(numDevices,
                                               std::vector<AccessTrace>(header.layers.size()));
  std::vector<uint64_t> passes(header.layers.size(), 0);
  std::vector<uint16_t> experts;
  for (const auto& record : log.records) {
    const uint32_t layer = record.moeLayer;
    if (layer < skipPasses.size() && passes[layer]++ < skipPasses[layer]) continue;
    neededExperts(record, experts);
    for (int d = 0; d < numDevices; ++d) {
      AccessTrace& trace = traces[d][layer];
      const size_t before = trace.keys.size();
      for (uint16_t expert : experts) {
        if (deviceOf[layer][expert] == d) trace.keys.push_back(expert);
      }
      // A device none of whose experts the record needs sees no batch (a rank's empty layer).
      if (trace.keys.size() > before) trace.batchStarts.push_back(trace.keys.size());
    }
  }
  return traces;
}

CacheCounts replayTrace(const AccessTrace& trace, const std::string& policy, uint32_t capacity) {
  ExpertCache cache(capacity, makePolicy(policy, trace.keys));
  std::span<const ExpertKey> keys(trace.keys);
  for (uint64_t b = 0; b < trace.numBatches(); ++b) {
    auto batch =
        keys.subspan(trace.batchStarts[b], trace.batchStarts[b + 1] - trace.batchStarts[b]);
    cache.beginBatch(batch);
    for (ExpertKey key : batch) cache.access(key);
  }
  return {cache.accesses(), cache.misses(), cache.evictions()};
}

CacheSimulation simulateCaches(const collector::RoutingLog& log,
                               const std::vector<std::string>& policies,
                               const std::vector<uint32_t>& slots, CacheScope scope) {
  checkCacheArguments(log.header, policies, slots);
  CacheSimulation result;
  result.model = log.header.model;
  result.numLayers = static_cast<uint32_t>(log.header.layers.size());
  result.numExperts = log.header.numExperts;
  result.topK = log.header.topK;
  result.numRecords = log.records.size();
  result.scope = scope;
  std::vector<AccessTrace> traces = buildAccessTraces(log, scope);
  for (const std::string& policy : policies) {
    PolicyCurve curve{policy, {}};
    for (uint32_t count : slots) {
      uint32_t capacity = scope == CacheScope::Layer ? count : count * result.numLayers;
      MissRatePoint point{count, {}};
      for (const AccessTrace& trace : traces) {
        CacheCounts counts = replayTrace(trace, policy, std::max(capacity, 1u));
        point.counts.accesses += counts.accesses;
        point.counts.misses += counts.misses;
        point.counts.evictions += counts.evictions;
      }
      curve.points.push_back(point);
    }
    result.curves.push_back(std::move(curve));
  }
  return result;
}

std::string cacheSimulationJson(const CacheSimulation& simulation) {
  nlohmann::json json = {
      {"model", simulation.model},          {"layers", simulation.numLayers},
      {"experts", simulation.numExperts},   {"top_k", simulation.topK},
      {"records", simulation.numRecords},   {"scope", cacheScopeName(simulation.scope)},
      {"policies", nlohmann::json::array()}};
  for (const PolicyCurve& curve : simulation.curves) {
    nlohmann::json points = nlohmann::json::array();
    for (const MissRatePoint& point : curve.points) {
      points.push_back({{"slots", point.slots},
                        {"accesses", point.counts.accesses},
                        {"misses", point.counts.misses},
                        {"evictions", point.counts.evictions},
                        {"miss_rate", point.counts.missRate()}});
    }
    json["policies"].push_back({{"policy", curve.policy}, {"points", std::move(points)}});
  }
  return json.dump(2) + "\n";
}

std::string cacheSimulationCsv(const CacheSimulation& simulation) {
  std::ostringstream out;
  out.precision(17);
  out << "policy,slots,accesses,misses,evictions,miss_rate\n";
  for (const PolicyCurve& curve : simulation.curves) {
    for (const MissRatePoint& point : curve.points) {
      out << curve.policy << "," << point.slots << "," << point.counts.accesses << ","
          << point.counts.misses << "," << point.counts.evictions << "," << point.counts.missRate()
          << "\n";
    }
  }
  return out.str();
}

}  // namespace moeprof::analysis
