#pragma once
// A trace arranged for drawing: one track per thread and nesting depth (operators), per thread
// (NVTX ranges), per GPU stream (kernels, copies, memsets), for the expert cache and its
// transfers, and the memory counter. Spans of a track are sorted by start with a running
// maximum of their ends, so a view finds the first visible span by binary search and skips to
// the next pixel (level of detail: at most one span per pixel is drawn, whatever the count).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "analysis/trace_loader.h"
#include "collector/trace_events.h"

namespace moeprof::gui {

struct TimelineSpan {
  int64_t startNs = 0;
  int64_t endNs = 0;  // == startNs for instants (cache hits and misses)
  uint32_t name = 0;  // index into TimelineData::names
};

struct TimelineTrack {
  std::string name{};  // "thread 1234 · ops depth 0", "GPU 0 · stream 7", "expert cache"
  std::vector<TimelineSpan> spans{};
  std::vector<int64_t> maxEndNs{};  // maxEndNs[i]: the largest end of spans[0..i]
};

// When a forward pass (batch, step) was routed: RoutingEvent timestamps of the trace.
struct PassTime {
  int64_t timestampNs = 0;
  uint32_t batch = 0;
  uint32_t step = 0;
};

struct TimelineData {
  std::vector<std::string> names{};
  std::vector<TimelineTrack> tracks{};
  std::vector<std::pair<int64_t, int64_t>> memory{};  // (timestampNs, allocated bytes)
  std::vector<PassTime> passes{};
  int64_t startNs = 0;
  int64_t endNs = 0;
  size_t eventCount = 0;  // spans in all tracks plus memory samples
};

TimelineData buildTimeline(const collector::Trace& trace);
// Every rank's trace of a multi-rank run: each rank's tracks named "rank R \u00b7 ...", the
// memory counter of the first rank (ranks are processes with memory of their own).
TimelineData buildTimeline(const std::vector<analysis::RankTrace>& ranks);

// Index of the first span of `track` that ends at or after `fromNs` (spans.size() if none).
size_t firstSpanEndingAfter(const TimelineTrack& track, int64_t fromNs);
// Index of the first span at or after `begin` that starts at or after `atNs`.
size_t firstSpanStartingAt(const TimelineTrack& track, size_t begin, int64_t atNs);

// The forward passes (batch, step) routed inside [fromNs, toNs], in order, without repeats.
std::vector<std::pair<uint32_t, uint32_t>> passesInRange(const TimelineData& timeline,
                                                         int64_t fromNs, int64_t toNs);

}  // namespace moeprof::gui
