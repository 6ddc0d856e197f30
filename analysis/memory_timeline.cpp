#include "analysis/memory_timeline.h"

#include <algorithm>
#include <map>

namespace moeprof::analysis {

namespace {

using DeviceKey = std::pair<int8_t, int8_t>;

// The events of one device, thinned: per bucket of equal time its lowest and highest sample,
// in time order (a bucket with one sample keeps it once).
std::vector<MemorySample> thin(const std::vector<const collector::MemoryEvent*>& events,
                               int64_t start, size_t maxSamples) {
  std::vector<MemorySample> all;
  all.reserve(events.size());
  for (const auto* e : events) {
    all.push_back({e->timestampNs - start, e->totalAllocatedBytes, e->totalReservedBytes});
  }
  if (all.size() <= maxSamples) return all;
  const size_t buckets = std::max<size_t>(1, maxSamples / 2);
  const double span = static_cast<double>(all.back().timeNs) + 1.0;
  std::vector<MemorySample> out;
  size_t i = 0;
  for (size_t b = 0; b < buckets && i < all.size(); ++b) {
    const double end = span * static_cast<double>(b + 1) / static_cast<double>(buckets);
    size_t low = i, high = i;
    for (; i < all.size() && static_cast<double>(all[i].timeNs) < end; ++i) {
      if (all[i].allocatedBytes < all[low].allocatedBytes) low = i;
      if (all[i].allocatedBytes > all[high].allocatedBytes) high = i;
    }
    if (i == low && i == high) continue;  // an empty bucket
    out.push_back(all[std::min(low, high)]);
    if (low != high) out.push_back(all[std::max(low, high)]);
  }
  return out;
}

}  // namespace

std::vector<DeviceMemoryTimeline> memoryTimelines(const collector::Trace& trace,
                                                  size_t maxSamples) {
  maxSamples = std::max<size_t>(2, maxSamples);
  std::map<DeviceKey, std::vector<const collector::MemoryEvent*>> byDevice;
  for (const auto& e : trace.memory) byDevice[{e.deviceType, e.deviceIndex}].push_back(&e);
  std::vector<DeviceMemoryTimeline> timelines;
  for (auto& [key, events] : byDevice) {
    std::stable_sort(events.begin(), events.end(),
                     [](const auto* a, const auto* b) { return a->timestampNs < b->timestampNs; });
    DeviceMemoryTimeline t;
    t.deviceType = key.first;
    t.deviceIndex = key.second;
    t.startNs = events.front()->timestampNs;
    t.events = static_cast<int64_t>(events.size());
    for (const auto* e : events) {
      if (e->totalAllocatedBytes > t.peakAllocatedBytes) {
        t.peakAllocatedBytes = e->totalAllocatedBytes;
        t.peakTimeNs = e->timestampNs - t.startNs;
      }
    }
    t.samples = thin(events, t.startNs, maxSamples);
    timelines.push_back(std::move(t));
  }
  return timelines;
}

}  // namespace moeprof::analysis
