#pragma once
// Replays a run's routing log through expert caches (Expert Buffering, Huang et al.) and reports
// miss-rate curves per eviction policy and slot count: what `moeprof simulate` prints.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/expert_cache.h"
#include "collector/routing_log.h"

namespace moeprof::analysis {

// Layer: one cache of `slots` slots per MoE layer (the paper's per-GPU slots for one layer's
// experts). Global: one pool of slots x layers slots shared by all MoE layers.
enum class CacheScope { Layer, Global };
const char* cacheScopeName(CacheScope scope);  // "layer", "global"
// Throws InputError naming the value and the allowed ones.
CacheScope parseCacheScope(const std::string& name);

// The accesses one cache sees, grouped in batches: keys[batchStarts[b] .. batchStarts[b+1]) are
// the distinct experts batch b needs, in increasing id order (the order the paper's experts
// run in). batchStarts ends with keys.size().
struct AccessTrace {
  std::vector<ExpertKey> keys;
  std::vector<uint64_t> batchStarts = {0};
  uint64_t numBatches() const { return batchStarts.size() - 1; }
};

// The access traces of a log, in log (= execution) order: one per MoE layer for Layer scope,
// one for Global scope. Each record is one batch, so every decoder step of incremental decoding
// is a batch of its own, as it is when the model runs. An expert counts as needed by a record when
// at least one of its token assignments was not dropped (a dropped assignment runs no expert
// computation).
std::vector<AccessTrace> buildAccessTraces(const collector::RoutingLog& log, CacheScope scope);

// Counts for one cache (or the sum over the per-layer caches) replaying a trace.
struct CacheCounts {
  uint64_t accesses = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  double missRate() const { return accesses == 0 ? 0.0 : double(misses) / double(accesses); }
};

// Replays one trace through a fresh cache of `capacity` slots with the named policy, calling
// beginBatch with each batch's keys before its accesses.
CacheCounts replayTrace(const AccessTrace& trace, const std::string& policy, uint32_t capacity);

struct MissRatePoint {
  uint32_t slots = 0;  // per layer (Global scope: the pool holds slots x layers)
  CacheCounts counts;
};

struct PolicyCurve {
  std::string policy;
  std::vector<MissRatePoint> points;  // in the order the slot counts were asked for
};

struct CacheSimulation {
  std::string model;
  uint32_t numLayers = 0;
  uint32_t numExperts = 0;
  uint32_t topK = 0;
  uint64_t numRecords = 0;
  CacheScope scope = CacheScope::Layer;
  std::vector<PolicyCurve> curves;  // in the order the policies were asked for
};

// Runs every policy at every slot count. Throws InputError for an unknown policy, no policies
// or slot counts, or a slot count below topK (a token's experts would not fit) or above the
// number of experts (nothing would ever be evicted).
CacheSimulation simulateCaches(const collector::RoutingLog& log,
                               const std::vector<std::string>& policies,
                               const std::vector<uint32_t>& slots, CacheScope scope);

// The result as JSON (an object with the log's shape and one curve per policy) and as CSV
// (header policy,slots,accesses,misses,evictions,miss_rate; one row per point).
std::string cacheSimulationJson(const CacheSimulation& simulation);
std::string cacheSimulationCsv(const CacheSimulation& simulation);

}  // namespace moeprof::analysis
