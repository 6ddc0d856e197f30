#include "analysis/cache_timeline.h"

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>

namespace moeprof::analysis {

namespace {

using StepKey = std::pair<uint32_t, uint32_t>;  // (batch, MoE layer)

struct Lookup {
  int64_t timestampNs;
  StepKey step;
};

void countAction(CacheStep& step, collector::CacheAction action) {
  switch (action) {
    case collector::CacheAction::Hit:
      ++step.hits;
      break;
    case collector::CacheAction::Miss:
      ++step.misses;
      break;
    case collector::CacheAction::Evict:
      ++step.evictions;
      break;
    case collector::CacheAction::Prefetch:
      ++step.prefetches;
      break;
  }
}

bool isLookup(collector::CacheAction action) {
  return action == collector::CacheAction::Hit || action == collector::CacheAction::Miss;
}

}  // namespace

CacheTimeline cacheTimeline(const collector::Trace& trace) {
  std::map<StepKey, CacheStep> steps;
  std::unordered_map<uint64_t, StepKey> transferSteps;  // transferId -> step that started it
  std::vector<Lookup> lookups;
  for (const auto& e : trace.cache) {
    const StepKey key{e.batch, e.moeLayer};
    CacheStep& step = steps[key];
    step.batch = e.batch;
    step.moeLayer = e.moeLayer;
    countAction(step, e.action);
    if (e.transferId != 0) transferSteps.emplace(e.transferId, key);
    if (isLookup(e.action)) lookups.push_back({e.timestampNs, key});
  }
  for (const auto& t : trace.transfers) {
    auto it = transferSteps.find(t.transferId);
    if (it == transferSteps.end()) continue;  // a probe's read, not a cache fill
    CacheStep& step = steps[it->second];
    step.bytesMoved += t.bytes;
    step.transferNs += t.endNs - t.startNs;
  }
  std::sort(lookups.begin(), lookups.end(),
            [](const Lookup& a, const Lookup& b) { return a.timestampNs < b.timestampNs; });
  for (const auto& r : trace.ranges) {
    if (r.isMark || r.text != kExpertStallRange) continue;
    auto after = std::upper_bound(lookups.begin(), lookups.end(), r.startNs,
                                  [](int64_t t, const Lookup& l) { return t < l.timestampNs; });
    if (after == lookups.begin()) continue;
    steps[std::prev(after)->step].stallNs += r.endNs - r.startNs;
  }
  CacheTimeline timeline;
  for (auto& [key, step] : steps) {
    timeline.batches = std::max(timeline.batches, key.first + 1);
    timeline.layers = std::max(timeline.layers, key.second + 1);
    timeline.steps.push_back(step);
  }
  return timeline;
}

CacheTimeline onlyBatches(const CacheTimeline& timeline, const std::set<uint32_t>& batches) {
  CacheTimeline part;
  part.batches = timeline.batches;
  part.layers = timeline.layers;
  for (const auto& step : timeline.steps) {
    if (batches.count(step.batch)) part.steps.push_back(step);
  }
  return part;
}

}  // namespace moeprof::analysis
