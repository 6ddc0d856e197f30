#pragma once
// Expert Buffering over time, from a buffered run's trace: for every measured batch and MoE
// layer, the cache's hits, misses, prefetches and evictions (CacheEvent), the bytes its fills
// moved and how long they took (TransferEvent), and how long compute stalled waiting for an
// expert (the "moe.expert_stall" NVTX range). The run's metrics hold the same counts summed.
//
// Attribution: a transfer belongs to the batch of the miss or prefetch that started it (its
// transferId); a stall to the batch and layer of the last lookup (hit or miss) before the stall
// began, since a layer looks all its experts up before it waits for any of them.
#include <cstdint>
#include <set>
#include <vector>

#include "collector/trace_events.h"

namespace moeprof::analysis {

// The NVTX range the expert store marks a wait for an expert's weights with.
inline constexpr const char* kExpertStallRange = "moe.expert_stall";

struct CacheStep {
  uint32_t batch = 0;
  uint32_t moeLayer = 0;
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t prefetches = 0;
  int64_t evictions = 0;
  int64_t bytesMoved = 0;
  int64_t transferNs = 0;  // summed over this step's transfers (they may overlap)
  int64_t stallNs = 0;
  double missRate() const {
    return hits + misses > 0 ? double(misses) / double(hits + misses) : 0.0;
  }
};

struct CacheTimeline {
  std::vector<CacheStep> steps;  // by batch, then layer; only (batch, layer) pairs with events
  uint32_t batches = 0;          // 1 + the largest batch index
  uint32_t layers = 0;           // 1 + the largest MoE layer index
  bool empty() const { return steps.empty(); }
};

CacheTimeline cacheTimeline(const collector::Trace& trace);
// The steps of the given measured batches (a time range of the trace).
CacheTimeline onlyBatches(const CacheTimeline& timeline, const std::set<uint32_t>& batches);

}  // namespace moeprof::analysis
