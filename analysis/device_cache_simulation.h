#pragma once
// Expert Buffering on several devices under an expert placement, the paper's setting: each
// device holds the experts a placement gives it and keeps its own `slots` slots per MoE layer
// for them, so each device's cache sees only the accesses to its own experts (one rank of
// `moeprof run --ranks N --buffering` does exactly this). What `moeprof simulate --cache
// --placement --devices` prints beside the single-device curves, and how the paper can find
// that load balancing also lowers miss rates. The caches are analysis/expert_cache.h's and the
// placements analysis/placement.h's: the same code live runs use.
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/cache_simulation.h"
#include "analysis/placement_simulation.h"
#include "collector/routing_log.h"

namespace moeprof::analysis {

// Per device, the counts of its caches (one per MoE layer, `slots` slots each, fresh at the
// start) replaying the log under placements[l] for layer l, the first skipPasses[l] records of
// each layer left out (empty: none). Summed over the layers. Throws as buildDeviceAccessTraces
// and for an unknown policy.
std::vector<CacheCounts> replayDeviceCaches(const collector::RoutingLog& log,
                                            const std::vector<Placement>& placements,
                                            const std::string& policy, uint32_t slots,
                                            const std::vector<uint64_t>& skipPasses = {});

// Which passes the per-device caches replay. Judged: the second half of each layer's passes,
// the placement having been chosen on the first (as placement is judged). All: every pass, the
// placement still chosen on the first half; what a live run sees when its placement was fixed
// before it started (a live roundrobin run, or greedy/anticorr from an earlier history).
enum class DeviceReplay { Judged, All };
const char* deviceReplayName(DeviceReplay replay);  // "judged", "all"
// Throws InputError naming the value and the allowed ones.
DeviceReplay parseDeviceReplay(const std::string& name);

// One policy, placement, device count and slot count.
struct DeviceCacheOutcome {
  std::string policy;
  std::string placement;  // PlacementSpec::name()
  int devices = 0;
  uint32_t slots = 0;                  // per device and MoE layer
  std::vector<CacheCounts> perDevice;  // summed over the MoE layers
  CacheCounts total;                   // over all devices
  // The same passes through one device holding every expert with `slots` slots per layer: the
  // single-device replay of `moeprof simulate --cache`.
  CacheCounts oneDevice;
  double maxDeviceMissRate() const;
};

struct DeviceCacheSimulation {
  std::string model;
  uint32_t numLayers = 0;
  uint32_t numExperts = 0;
  uint32_t topK = 0;
  DeviceReplay replay = DeviceReplay::Judged;
  uint64_t replayedRecords = 0;  // records (passes of one layer) the caches replayed
  // In the order policies x placements x devices x slots.
  std::vector<DeviceCacheOutcome> outcomes;
};

// Every policy, placement, device count and slot count; each layer's placement chosen on the
// first half of its passes (choosePlacement). Throws InputError for what simulateCaches rejects,
// a placement with replicas (eplb), a device count that does not divide the experts, or a layer
// with fewer than 2 passes.
DeviceCacheSimulation simulateDeviceCaches(const collector::RoutingLog& log,
                                           const std::vector<std::string>& policies,
                                           const std::vector<uint32_t>& slots,
                                           const std::vector<PlacementSpec>& placements,
                                           const std::vector<int>& devices, DeviceReplay replay);

// As JSON (the log's shape, then one object per outcome with per_device counts and rates) and
// CSV (header policy,placement,devices,slots,device,accesses,misses,evictions,miss_rate; one row
// per device, then a row with device "total" and one with device "one_device").
std::string deviceCacheSimulationJson(const DeviceCacheSimulation& simulation);
std::string deviceCacheSimulationCsv(const DeviceCacheSimulation& simulation);

}  // namespace moeprof::analysis
