#include "gui/models/timeline_data.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

namespace moeprof::gui {

namespace {

constexpr int kMaxOperatorDepth = 3;  // deeper operators share the depth-3 track

// Collects spans into named tracks with interned span names.
class TimelineBuilder {
 public:
  // Names the tracks of the events added from now on ("rank 1 \u00b7 "), "" for one process.
  void setTrackPrefix(std::string prefix) { prefix_ = std::move(prefix); }

  void add(const std::string& track, int64_t startNs, int64_t endNs, const std::string& name) {
    auto [it, added] = trackIndex_.try_emplace(prefix_ + track, tracks_.size());
    if (added) tracks_.push_back({prefix_ + track, {}, {}});
    tracks_[it->second].spans.push_back({startNs, std::max(startNs, endNs), intern(name)});
  }

  TimelineData finish(std::vector<std::pair<int64_t, int64_t>> memory,
                      std::vector<PassTime> passes) {
    TimelineData data;
    data.startNs = std::numeric_limits<int64_t>::max();
    data.endNs = std::numeric_limits<int64_t>::min();
    for (auto& track : tracks_) finishTrack(track, data);
    for (const auto& [t, bytes] : memory) stretch(data, t, t);
    if (data.startNs > data.endNs) data.startNs = data.endNs = 0;
    data.eventCount += memory.size();
    data.names = std::move(names_);
    data.tracks = std::move(tracks_);
    data.memory = std::move(memory);
    data.passes = std::move(passes);
    return data;
  }

 private:
  uint32_t intern(const std::string& name) {
    auto [it, added] = nameIndex_.try_emplace(name, uint32_t(names_.size()));
    if (added) names_.push_back(name);
    return it->second;
  }
  static void stretch(TimelineData& data, int64_t startNs, int64_t endNs) {
    data.startNs = std::min(data.startNs, startNs);
    data.endNs = std::max(data.endNs, endNs);
  }
  static void finishTrack(TimelineTrack& track, TimelineData& data) {
    std::stable_sort(track.spans.begin(), track.spans.end(),
                     [](const auto& a, const auto& b) { return a.startNs < b.startNs; });
    track.maxEndNs.reserve(track.spans.size());
    int64_t maxEnd = std::numeric_limits<int64_t>::min();
    for (const auto& span : track.spans) {
      maxEnd = std::max(maxEnd, span.endNs);
      track.maxEndNs.push_back(maxEnd);
      stretch(data, span.startNs, span.endNs);
    }
    data.eventCount += track.spans.size();
  }

  std::string prefix_;
  std::vector<TimelineTrack> tracks_;
  std::map<std::string, size_t> trackIndex_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, uint32_t> nameIndex_;
};

std::string threadTrack(uint64_t thread, const std::string& what) {
  return "thread " + std::to_string(thread) + " \u00b7 " + what;
}
std::string streamTrack(uint32_t device, uint32_t stream) {
  return "GPU " + std::to_string(device) + " \u00b7 stream " + std::to_string(stream);
}

void addHostEvents(TimelineBuilder& builder, const collector::Trace& trace) {
  for (const auto& op : trace.operators) {
    const int depth = std::clamp(op.depth, 0, kMaxOperatorDepth);
    builder.add(threadTrack(op.threadId, "ops depth " + std::to_string(depth)), op.startNs,
                op.endNs, op.name);
  }
  for (const auto& range : trace.ranges) {
    builder.add(threadTrack(range.threadId, "NVTX"), range.startNs, range.endNs, range.text);
  }
}

void addDeviceEvents(TimelineBuilder& builder, const collector::Trace& trace) {
  for (const auto& k : trace.kernels) {
    builder.add(streamTrack(k.deviceId, k.streamId), k.startNs, k.endNs, k.name);
  }
  for (const auto& m : trace.memcpys) {
    builder.add(streamTrack(m.deviceId, m.streamId), m.startNs, m.endNs, "memcpy");
  }
  for (const auto& m : trace.memsets) {
    builder.add(streamTrack(m.deviceId, m.streamId), m.startNs, m.endNs, "memset");
  }
}

void addCacheEvents(TimelineBuilder& builder, const collector::Trace& trace) {
  for (const auto& c : trace.cache) {
    builder.add("expert cache", c.timestampNs, c.timestampNs,
                std::string(collector::cacheActionName(c.action)) + " L" +
                    std::to_string(c.moeLayer) + " E" + std::to_string(c.expert));
  }
  for (const auto& t : trace.transfers) {
    builder.add("expert transfers", t.startNs, t.endNs,
                std::string(t.prefetch ? "prefetch" : "fetch") + " L" + std::to_string(t.moeLayer) +
                    " E" + std::to_string(t.expert));
  }
}

void addTrace(TimelineBuilder& builder, const collector::Trace& trace,
              std::vector<PassTime>& passes) {
  addHostEvents(builder, trace);
  addDeviceEvents(builder, trace);
  addCacheEvents(builder, trace);
  for (const auto& r : trace.routing) passes.push_back({r.timestampNs, r.batch, r.step});
}

std::vector<std::pair<int64_t, int64_t>> memoryCounter(const collector::Trace& trace) {
  std::vector<std::pair<int64_t, int64_t>> memory;
  memory.reserve(trace.memory.size());
  for (const auto& m : trace.memory) memory.emplace_back(m.timestampNs, m.totalAllocatedBytes);
  std::sort(memory.begin(), memory.end());
  return memory;
}

TimelineData finishTimeline(TimelineBuilder& builder, const collector::Trace& memoryOf,
                            std::vector<PassTime> passes) {
  std::sort(passes.begin(), passes.end(),
            [](const auto& a, const auto& b) { return a.timestampNs < b.timestampNs; });
  return builder.finish(memoryCounter(memoryOf), std::move(passes));
}

}  // namespace

TimelineData buildTimeline(const collector::Trace& trace) {
  TimelineBuilder builder;
  std::vector<PassTime> passes;
  addTrace(builder, trace, passes);
  return finishTimeline(builder, trace, std::move(passes));
}

TimelineData buildTimeline(const std::vector<analysis::RankTrace>& ranks) {
  if (ranks.empty()) return {};
  TimelineBuilder builder;
  std::vector<PassTime> passes;
  for (const auto& rank : ranks) {
    if (ranks.size() > 1) builder.setTrackPrefix("rank " + std::to_string(rank.rank) + " \u00b7 ");
    addTrace(builder, rank.trace, passes);
  }
  return finishTimeline(builder, ranks.front().trace, std::move(passes));
}

size_t firstSpanEndingAfter(const TimelineTrack& track, int64_t fromNs) {
  return size_t(std::lower_bound(track.maxEndNs.begin(), track.maxEndNs.end(), fromNs) -
                track.maxEndNs.begin());
}

size_t firstSpanStartingAt(const TimelineTrack& track, size_t begin, int64_t atNs) {
  return size_t(std::lower_bound(track.spans.begin() + long(begin), track.spans.end(), atNs,
                                 [](const auto& span, int64_t t) { return span.startNs < t; }) -
                track.spans.begin());
}

std::vector<std::pair<uint32_t, uint32_t>> passesInRange(const TimelineData& timeline,
                                                         int64_t fromNs, int64_t toNs) {
  std::vector<std::pair<uint32_t, uint32_t>> found;
  std::set<std::pair<uint32_t, uint32_t>> seen;
  for (const auto& pass : timeline.passes) {
    if (pass.timestampNs < fromNs || pass.timestampNs > toNs) continue;
    if (seen.insert({pass.batch, pass.step}).second) found.emplace_back(pass.batch, pass.step);
  }
  return found;
}

}  // namespace moeprof::gui
