#pragma once
// The memory held over time on each device of a trace (its memory events' running totals),
// thinned to a size a chart can draw without losing the peaks: the trace's span is cut into
// equal buckets and each bucket keeps its lowest and its highest sample.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "collector/trace_events.h"

namespace moeprof::analysis {

struct MemorySample {
  int64_t timeNs = 0;  // from the start of the timeline (the device's first memory event)
  int64_t allocatedBytes = 0;
  int64_t reservedBytes = 0;
};

struct DeviceMemoryTimeline {
  int8_t deviceType = 0;  // 0 = CPU, 1 = CUDA
  int8_t deviceIndex = -1;
  int64_t startNs = 0;  // the first event's timestamp on the trace's clock
  int64_t events = 0;   // memory events of this device in the trace
  int64_t peakAllocatedBytes = 0;
  int64_t peakTimeNs = 0;               // from startNs
  std::vector<MemorySample> samples{};  // in time order, at most maxSamples
};

// One timeline per device, by device type then index. maxSamples >= 2 (smaller is taken as 2).
std::vector<DeviceMemoryTimeline> memoryTimelines(const collector::Trace& trace,
                                                  size_t maxSamples = 1000);

}  // namespace moeprof::analysis
