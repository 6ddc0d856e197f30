#include "collector/perfetto/perfetto_layout.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace moeprof::collector::perfetto {

namespace {

constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();
constexpr uint32_t kNoTrack = std::numeric_limits<uint32_t>::max();
constexpr const char* kSeparator = " \xC2\xB7 ";  // " · "

// Where a slice that may anchor a flow ended up: its track, and the start of the next slice on
// that track. Perfetto's JSON importer binds a flow event to the innermost slice still open on
// the track, and pops a slice only when a later one starts; so a flow event at time t binds to
// this slice exactly when start <= t < limitNs.
struct Anchor {
  uint32_t track = kNoTrack;
  int64_t limitNs = 0;
};

PlacedSlice place(int64_t startNs, int64_t endNs, size_t index, SliceKind kind) {
  return {startNs, std::max(startNs, endNs), static_cast<uint32_t>(index), kind};
}

// The nesting rule. Slices are ordered by start, the longer first (then kind, then index), and
// dealt to lanes: each goes to the first lane where it nests within, or follows, every slice
// still open there. Lane 0 is the track itself; a slice that would partially overlap an open
// slice (clock jitter, an NVTX range popped out of order) moves to an overlap lane, never clipped.
std::vector<std::vector<PlacedSlice>> assignLanes(std::vector<PlacedSlice> slices, int64_t& moved) {
  std::sort(slices.begin(), slices.end(), [](const PlacedSlice& a, const PlacedSlice& b) {
    if (a.startNs != b.startNs) return a.startNs < b.startNs;
    if (a.endNs != b.endNs) return a.endNs > b.endNs;
    if (a.kind != b.kind) return a.kind < b.kind;
    return a.index < b.index;
  });
  std::vector<std::vector<PlacedSlice>> lanes;
  std::vector<std::vector<int64_t>> openEnds;  // per lane, innermost last
  for (const PlacedSlice& slice : slices) {
    size_t lane = 0;
    for (; lane < lanes.size(); ++lane) {
      auto& ends = openEnds[lane];
      // Intervals are half-open: a slice ending where this one starts is closed.
      while (!ends.empty() && ends.back() <= slice.startNs) ends.pop_back();
      if (ends.empty() || slice.endNs <= ends.back()) break;
    }
    if (lane == lanes.size()) {
      lanes.emplace_back().reserve(lane == 0 ? slices.size() : 0);
      openEnds.emplace_back();
    }
    if (lane > 0) ++moved;
    openEnds[lane].push_back(slice.endNs);
    lanes[lane].push_back(slice);
  }
  return lanes;
}

// "memory" for the host's allocator (CPU, no index); other devices kept on the host are named.
std::string memorySeriesName(std::pair<int, int> device) {
  if (device == std::pair<int, int>{0, -1}) return "memory";
  std::string type = device.first == 0   ? "cpu"
                     : device.first == 1 ? "cuda"
                                         : "device type " + std::to_string(device.first);
  return "memory " + type + ":" + std::to_string(device.second);
}

// Indices of `events` ordered by timestamp, ties in their order in the trace.
template <typename Event>
std::vector<uint32_t> timeOrder(const std::vector<Event>& events) {
  std::vector<uint32_t> order(events.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return events[a].timestampNs < events[b].timestampNs;
  });
  return order;
}

// What one host thread shows: its main track's slices, its NVTX ranges and its marks.
struct HostThread {
  std::vector<PlacedSlice> main, nvtx;
  std::vector<uint32_t> marks;
};

bool isRealTid(uint64_t id) {
  return id >= 1 && id < kSyntheticTidBase;
}

class Builder {
 public:
  explicit Builder(const Trace& trace) : trace_(trace) {
    anchors_[static_cast<size_t>(SliceKind::Operator)].resize(trace.operators.size());
    anchors_[static_cast<size_t>(SliceKind::ApiCall)].resize(trace.apiCalls.size());
    anchors_[static_cast<size_t>(SliceKind::Kernel)].resize(trace.kernels.size());
    anchors_[static_cast<size_t>(SliceKind::Memcpy)].resize(trace.memcpys.size());
    anchors_[static_cast<size_t>(SliceKind::Memset)].resize(trace.memsets.size());
    anchors_[static_cast<size_t>(SliceKind::Transfer)].resize(trace.transfers.size());
  }

  Layout build() {
    groupMemory();
    layOutHost();
    layOutGpus();
    resolveGpuFlows();
    resolveCacheFlows();
    int64_t series = static_cast<int64_t>(layout_.memory.size()) * 2 + cacheSeries();
    layout_.stats.tracks = static_cast<int64_t>(layout_.tracks.size()) + series;
    return std::move(layout_);
  }

 private:
  void beginProcess(uint32_t pid, std::string name, bool hasCounters) {
    layout_.processes.push_back({pid, std::move(name),
                                 static_cast<int32_t>(layout_.processes.size()),
                                 hasCounters ? nextTid_++ : 0});
    nextSortIndex_ = 0;
  }

  uint32_t addTrack(uint32_t tid, std::string name, TrackContent content) {
    Track& track = layout_.tracks.emplace_back();
    track.pid = layout_.processes.back().pid;
    track.tid = tid;
    track.name = std::move(name);
    track.sortIndex = nextSortIndex_++;
    track.content = content;
    return static_cast<uint32_t>(layout_.tracks.size() - 1);
  }

  // Lane 0 becomes a track named `name` with thread id `tid` (0: a made-up one); overlap lanes
  // follow it, named "<name> · overlap N". Marks go on lane 0.
  void addLanes(uint32_t tid, const std::string& name, std::vector<PlacedSlice> slices,
                std::vector<uint32_t> marks = {}) {
    auto lanes = assignLanes(std::move(slices), layout_.stats.overlapSlices);
    if (lanes.empty()) lanes.emplace_back();
    for (size_t lane = 0; lane < lanes.size(); ++lane) {
      uint32_t laneTid = lane == 0 && tid != 0 ? tid : nextTid_++;
      std::string laneName =
          lane == 0 ? name : name + kSeparator + "overlap " + std::to_string(lane);
      uint32_t track = addTrack(laneTid, std::move(laneName), TrackContent::Slices);
      auto& placed = layout_.tracks[track].slices;
      placed = std::move(lanes[lane]);
      for (size_t i = 0; i < placed.size(); ++i) {
        auto& anchorsOfKind = anchors_[static_cast<size_t>(placed[i].kind)];
        if (anchorsOfKind.empty()) continue;  // kinds that anchor no flow
        anchorsOfKind[placed[i].index] = {track,
                                          i + 1 < placed.size() ? placed[i + 1].startNs : kNoLimit};
      }
    }
    if (!marks.empty()) {
      auto& track = layout_.tracks[layout_.tracks.size() - lanes.size()];
      std::stable_sort(marks.begin(), marks.end(), [&](uint32_t a, uint32_t b) {
        return trace_.ranges[a].startNs < trace_.ranges[b].startNs;
      });
      track.marks = std::move(marks);
    }
  }

  std::string threadName(uint64_t threadId) const {
    auto it = trace_.meta.find("thread_name." + std::to_string(threadId));
    if (it != trace_.meta.end() && !it->second.empty()) return it->second;
    return "thread " + std::to_string(threadId);
  }

  std::map<uint64_t, HostThread> hostThreads() const;
  void layOutHost();
  void layOutAppTracks();
  void layOutGpus();
  void groupMemory();
  void resolveGpuFlows();
  void resolveCacheFlows();
  void addFlow(FlowKind kind, uint32_t startTrack, int64_t startNs, int64_t startLimitNs,
               const Anchor& end, int64_t endStartNs);
  int64_t cacheSeries() const;

  const Trace& trace_;
  Layout layout_;
  std::vector<Anchor> anchors_[8];
  uint32_t nextTid_ = kSyntheticTidBase;
  int32_t nextSortIndex_ = 0;
  std::set<uint32_t> gpuDevices_;
  std::map<std::pair<int, int>, std::vector<uint32_t>> memoryByDevice_;
};

void Builder::groupMemory() {
  for (size_t i = 0; i < trace_.memory.size(); ++i) {
    const MemoryEvent& event = trace_.memory[i];
    memoryByDevice_[{event.deviceType, event.deviceIndex}].push_back(static_cast<uint32_t>(i));
  }
  for (auto& [device, events] : memoryByDevice_) {
    std::stable_sort(events.begin(), events.end(), [&](uint32_t a, uint32_t b) {
      return trace_.memory[a].timestampNs < trace_.memory[b].timestampNs;
    });
    if (device.first == 1 && device.second >= 0) gpuDevices_.insert(device.second);
  }
  for (const auto& k : trace_.kernels) gpuDevices_.insert(k.deviceId);
  for (const auto& m : trace_.memcpys) gpuDevices_.insert(m.deviceId);
  for (const auto& m : trace_.memsets) gpuDevices_.insert(m.deviceId);
}

std::map<uint64_t, HostThread> Builder::hostThreads() const {
  std::map<uint64_t, HostThread> threads;
  for (size_t i = 0; i < trace_.operators.size(); ++i) {
    const auto& e = trace_.operators[i];
    threads[e.threadId].main.push_back(place(e.startNs, e.endNs, i, SliceKind::Operator));
  }
  for (size_t i = 0; i < trace_.apiCalls.size(); ++i) {
    const auto& e = trace_.apiCalls[i];
    threads[e.threadId].main.push_back(place(e.startNs, e.endNs, i, SliceKind::ApiCall));
  }
  for (size_t i = 0; i < trace_.overheads.size(); ++i) {
    const auto& e = trace_.overheads[i];
    threads[e.threadId].main.push_back(place(e.startNs, e.endNs, i, SliceKind::Overhead));
  }
  for (size_t i = 0; i < trace_.ranges.size(); ++i) {
    const auto& e = trace_.ranges[i];
    auto& thread = threads[e.threadId];
    if (e.isMark) {
      thread.marks.push_back(static_cast<uint32_t>(i));
    } else {
      thread.nvtx.push_back(place(e.startNs, e.endNs, i, SliceKind::Range));
    }
  }
  return threads;
}

void Builder::layOutHost() {
  bool hostMemory = std::any_of(memoryByDevice_.begin(), memoryByDevice_.end(),
                                [](const auto& entry) { return entry.first.first != 1; });
  beginProcess(kHostPid, "Host", cacheSeries() > 0 || hostMemory);
  for (auto& [threadId, thread] : hostThreads()) {
    std::string name = threadName(threadId);
    if (!thread.nvtx.empty() || !thread.marks.empty()) {
      addLanes(0, name + kSeparator + "NVTX", std::move(thread.nvtx), std::move(thread.marks));
    }
    if (!thread.main.empty()) {
      addLanes(isRealTid(threadId) ? static_cast<uint32_t>(threadId) : 0, name,
               std::move(thread.main));
    }
  }
  layOutAppTracks();
  uint32_t countersTid = layout_.processes.back().countersTid;
  if (countersTid != 0) addTrack(countersTid, "counters", TrackContent::Counters);
  for (const auto& [device, events] : memoryByDevice_) {
    if (device.first == 1 && device.second >= 0) continue;  // on its GPU's process
    layout_.memory.push_back({kHostPid, countersTid, memorySeriesName(device), events});
  }
}

void Builder::layOutAppTracks() {
  if (!trace_.cache.empty()) {
    layout_.cacheTrack = addTrack(nextTid_++, "expert cache", TrackContent::Cache);
    layout_.cacheOrder = timeOrder(trace_.cache);
  }
  if (!trace_.transfers.empty()) {
    std::vector<PlacedSlice> transfers;
    transfers.reserve(trace_.transfers.size());
    for (size_t i = 0; i < trace_.transfers.size(); ++i) {
      const auto& e = trace_.transfers[i];
      transfers.push_back(place(e.startNs, e.endNs, i, SliceKind::Transfer));
    }
    addLanes(0, "expert transfers", std::move(transfers));
  }
  if (!trace_.routing.empty()) {
    layout_.routingTrack = addTrack(nextTid_++, "routing", TrackContent::Routing);
    layout_.routingOrder = timeOrder(trace_.routing);
  }
}

void Builder::layOutGpus() {
  std::map<uint32_t, std::map<uint32_t, std::vector<PlacedSlice>>> streams;
  for (size_t i = 0; i < trace_.kernels.size(); ++i) {
    const auto& e = trace_.kernels[i];
    streams[e.deviceId][e.streamId].push_back(place(e.startNs, e.endNs, i, SliceKind::Kernel));
  }
  for (size_t i = 0; i < trace_.memcpys.size(); ++i) {
    const auto& e = trace_.memcpys[i];
    streams[e.deviceId][e.streamId].push_back(place(e.startNs, e.endNs, i, SliceKind::Memcpy));
  }
  for (size_t i = 0; i < trace_.memsets.size(); ++i) {
    const auto& e = trace_.memsets[i];
    streams[e.deviceId][e.streamId].push_back(place(e.startNs, e.endNs, i, SliceKind::Memset));
  }
  uint32_t ordinal = 0;
  for (uint32_t device : gpuDevices_) {
    uint32_t pid = kGpuPidBase + ordinal++;
    auto memory = memoryByDevice_.find({1, static_cast<int>(device)});
    bool hasMemory = memory != memoryByDevice_.end();
    beginProcess(pid, "GPU " + std::to_string(device), hasMemory);
    for (auto& [stream, slices] : streams[device]) {
      addLanes(isRealTid(stream) ? stream : 0, "stream " + std::to_string(stream),
               std::move(slices));
    }
    if (hasMemory) {
      uint32_t countersTid = layout_.processes.back().countersTid;
      addTrack(countersTid, "counters", TrackContent::Counters);
      layout_.memory.push_back({pid, countersTid, "memory", memory->second});
    }
  }
}

int64_t Builder::cacheSeries() const {
  std::set<uint32_t> layers;
  for (const auto& e : trace_.cache) {
    if (e.action == CacheAction::Hit || e.action == CacheAction::Miss) layers.insert(e.moeLayer);
  }
  return layers.empty() ? 0 : static_cast<int64_t>(layers.size()) + 1;
}

void Builder::addFlow(FlowKind kind, uint32_t startTrack, int64_t startNs, int64_t startLimitNs,
                      const Anchor& end, int64_t endStartNs) {
  // The end binds at the later of its slice's start and the flow's start: Perfetto needs the
  // start first, and CPU and GPU clocks can disagree by a little.
  int64_t endNs = std::max(endStartNs, startNs);
  if (startNs >= startLimitNs || endNs >= end.limitNs) {
    ++layout_.stats.flowsUnbindable;
    return;
  }
  uint64_t id = layout_.flows.size() + 1;
  layout_.flows.push_back({id, kind, startTrack, startNs, end.track, endNs});
  ++layout_.stats.flows;
}

void Builder::resolveGpuFlows() {
  auto& operatorAnchors = anchors_[static_cast<size_t>(SliceKind::Operator)];
  auto& apiAnchors = anchors_[static_cast<size_t>(SliceKind::ApiCall)];
  std::unordered_map<uint64_t, uint64_t> externalOf;
  std::unordered_map<uint64_t, uint32_t> operatorOf, apiOf;
  for (const auto& c : trace_.correlations) externalOf.emplace(c.correlationId, c.externalId);
  for (size_t i = 0; i < trace_.operators.size(); ++i) {
    uint64_t id = trace_.operators[i].correlationId;
    if (id != 0) operatorOf.emplace(id, static_cast<uint32_t>(i));
  }
  for (size_t i = 0; i < trace_.apiCalls.size(); ++i) {
    uint64_t id = trace_.apiCalls[i].correlationId;
    if (id != 0) apiOf.emplace(id, static_cast<uint32_t>(i));
  }
  layout_.flows.reserve(
      2 * (trace_.kernels.size() + trace_.memcpys.size() + trace_.memsets.size()) +
      trace_.cache.size());
  auto linkGpu = [&](SliceKind kind, size_t index, uint64_t correlationId, int64_t startNs) {
    if (correlationId == 0) return;
    const Anchor& end = anchors_[static_cast<size_t>(kind)][index];
    if (auto external = externalOf.find(correlationId); external != externalOf.end()) {
      auto op = operatorOf.find(external->second);
      if (op == operatorOf.end()) {
        ++layout_.stats.flowsDropped;
      } else {
        const Anchor& start = operatorAnchors[op->second];
        addFlow(FlowKind::OperatorToGpu, start.track, trace_.operators[op->second].startNs,
                start.limitNs, end, startNs);
      }
    }
    if (auto api = apiOf.find(correlationId); api != apiOf.end()) {
      const Anchor& start = apiAnchors[api->second];
      addFlow(FlowKind::ApiToGpu, start.track, trace_.apiCalls[api->second].startNs, start.limitNs,
              end, startNs);
    } else if (!trace_.apiCalls.empty()) {
      ++layout_.stats.flowsDropped;  // API calls were traced, this launch's is missing
    }
  };
  for (size_t i = 0; i < trace_.kernels.size(); ++i) {
    linkGpu(SliceKind::Kernel, i, trace_.kernels[i].correlationId, trace_.kernels[i].startNs);
  }
  for (size_t i = 0; i < trace_.memcpys.size(); ++i) {
    linkGpu(SliceKind::Memcpy, i, trace_.memcpys[i].correlationId, trace_.memcpys[i].startNs);
  }
  for (size_t i = 0; i < trace_.memsets.size(); ++i) {
    linkGpu(SliceKind::Memset, i, trace_.memsets[i].correlationId, trace_.memsets[i].startNs);
  }
}

void Builder::resolveCacheFlows() {
  std::unordered_map<uint64_t, uint32_t> transferOf;
  for (size_t i = 0; i < trace_.transfers.size(); ++i) {
    transferOf.emplace(trace_.transfers[i].transferId, static_cast<uint32_t>(i));
  }
  layout_.cacheFlow.assign(trace_.cache.size(), 0);
  const auto& transferAnchors = anchors_[static_cast<size_t>(SliceKind::Transfer)];
  for (uint32_t index : layout_.cacheOrder) {
    const CacheEvent& event = trace_.cache[index];
    if (event.transferId == 0) continue;
    auto transfer = transferOf.find(event.transferId);
    if (transfer == transferOf.end()) {
      ++layout_.stats.flowsDropped;
      continue;
    }
    // The cache instant binds its flow start right where it is written (see the writer), so it
    // has no limit of its own.
    size_t before = layout_.flows.size();
    addFlow(FlowKind::CacheToTransfer, layout_.cacheTrack, event.timestampNs, kNoLimit,
            transferAnchors[transfer->second], trace_.transfers[transfer->second].startNs);
    if (layout_.flows.size() > before) layout_.cacheFlow[index] = layout_.flows.back().id;
  }
}

}  // namespace

Layout layOut(const Trace& trace) {
  return Builder(trace).build();
}

void RankIdSpace::relabel(Layout& layout, int rank) {
  constexpr int kMaxRank = 2'000'000;  // rank * kRankPidStride stays within int32 sort indices
  if (rank < 0 || rank > kMaxRank) {
    throw std::invalid_argument("rank " + std::to_string(rank) + " is outside 0.." +
                                std::to_string(kMaxRank) + " for the Perfetto export");
  }
  if (layout.processes.size() > kRankPidStride - kGpuPidBase + 1) {
    throw std::invalid_argument("rank " + std::to_string(rank) + " has more GPUs than the " +
                                "Perfetto export numbers per rank");
  }
  const uint32_t pidBase = static_cast<uint32_t>(rank) * kRankPidStride;
  const std::string prefix = "rank " + std::to_string(rank) + kSeparator;
  // Keyed by the layout's (pid, tid): one thread id may appear in two processes of one rank
  // (stream 7 on two GPUs), and keeps doing so.
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> tids;
  auto tidOf = [&](uint32_t pid, uint32_t tid) {
    auto [it, added] = tids.try_emplace({pid, tid}, tid);
    if (added && (tid >= kSyntheticTidBase || takenTids_.count(tid) > 0)) {
      it->second = nextSyntheticTid_++;
    }
    return it->second;
  };
  for (Track& track : layout.tracks) {
    track.tid = tidOf(track.pid, track.tid);
    track.pid += pidBase;
  }
  for (MemorySeries& series : layout.memory) {
    series.tid = tidOf(series.pid, series.tid);
    series.pid += pidBase;
  }
  for (Process& process : layout.processes) {
    if (process.countersTid != 0) process.countersTid = tidOf(process.pid, process.countersTid);
    process.name = prefix + (process.pid == kHostPid ? std::string("host") : process.name);
    process.pid += pidBase;
    process.sortIndex += static_cast<int32_t>(pidBase);
  }
  for (const auto& [local, tid] : tids) takenTids_.insert(tid);
  for (Flow& flow : layout.flows) flow.id = nextFlowId_++;
}

}  // namespace moeprof::collector::perfetto
