#pragma once
// Internal to the Perfetto export (collector/perfetto/perfetto_writer.h): which process, thread
// track and position every event of a Trace gets, and which flows can be drawn. Kept apart from the
// JSON writing so that the nesting and flow-binding rules (collector/store/TRACE_STORE.md,
// "Perfetto export") live in one place.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "collector/perfetto/perfetto_writer.h"
#include "collector/trace_events.h"

namespace moeprof::collector::perfetto {

// Process ids of the export: the host first, then one per GPU (ordinal, in device id order).
inline constexpr uint32_t kHostPid = 1;
inline constexpr uint32_t kGpuPidBase = 100;
// Thread ids from here on are made up for tracks that are not a thread of their own (NVTX and
// overlap tracks, the expert cache, ...). Real thread ids are below it (Linux caps them at 2^22);
// one that is not (or is 0) gets a made-up id too, its real id stays in the track's name.
inline constexpr uint32_t kSyntheticTidBase = 0x40000000;
// In a multi-rank export, rank R's processes get pid R * kRankPidStride + the pid above (rank 0
// keeps the one-rank pids), and sort indices R * kRankPidStride + their position.
inline constexpr uint32_t kRankPidStride = 1000;

enum class SliceKind : uint8_t {
  Operator,
  ApiCall,
  Overhead,
  Range,
  Kernel,
  Memcpy,
  Memset,
  Transfer
};

// One complete slice on a track: the event it shows (an index into the Trace vector of its kind)
// and its interval, with a negative duration clamped to zero.
struct PlacedSlice {
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint32_t index = 0;
  SliceKind kind = SliceKind::Operator;
};

enum class TrackContent : uint8_t { Slices, Cache, Routing, Counters };

// One thread track of the output (a "tid" within a "pid").
struct Track {
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string name;
  int32_t sortIndex = 0;
  TrackContent content = TrackContent::Slices;
  std::vector<PlacedSlice> slices;  // in output order: by start, the longer first, then index
  std::vector<uint32_t> marks;      // NVTX marks (Trace::ranges indices), drawn as instants
};

struct Process {
  uint32_t pid = 0;
  std::string name;
  int32_t sortIndex = 0;
  uint32_t countersTid = 0;  // the track its counters hang on; 0 when it has no counters
};

// The memory counter of one device: MemoryEvent indices in time order.
struct MemorySeries {
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string name;
  std::vector<uint32_t> events;
};

enum class FlowKind : uint8_t { OperatorToGpu, ApiToGpu, CacheToTransfer };

// One arrow, already bound: both ends name a track and a time at which Perfetto's importer binds
// the flow event to the intended slice.
struct Flow {
  uint64_t id = 0;
  FlowKind kind = FlowKind::OperatorToGpu;
  uint32_t startTrack = 0;
  int64_t startNs = 0;
  uint32_t endTrack = 0;
  int64_t endNs = 0;
};

struct Layout {
  std::vector<Process> processes;  // in output order
  std::vector<Track> tracks;       // in output order
  std::vector<MemorySeries> memory;
  std::vector<uint32_t> cacheOrder;    // Trace::cache indices by time
  std::vector<uint32_t> routingOrder;  // Trace::routing indices by time
  uint32_t cacheTrack = 0;             // valid when cacheOrder is not empty
  uint32_t routingTrack = 0;           // valid when routingOrder is not empty
  std::vector<Flow> flows;             // by id; CacheToTransfer ones start at their instant
  std::vector<uint64_t> cacheFlow;     // per Trace::cache index: 1 + its flow's position, 0 = none
  PerfettoExportStats stats;           // all but events and bytes
};

Layout layOut(const Trace& trace);

// Hands out the process ids, thread ids and flow ids of a multi-rank export, rank after rank, so
// that no two ranks share one: Perfetto would merge their threads or join their flows. Relabel
// the ranks in increasing order; the first keeps its layout's ids.
class RankIdSpace {
 public:
  // Moves `layout` (one rank's, from layOut) into rank `rank`'s pids, names its processes
  // "rank R · host" and "rank R · GPU D", keeps a real thread id unless an earlier rank has it
  // (then it gets a made-up one, its track's name still shows the real id), gives made-up
  // thread ids and flow ids after the earlier ranks'. Throws std::invalid_argument when the
  // rank or its number of GPUs do not fit the pid scheme.
  void relabel(Layout& layout, int rank);

 private:
  std::set<uint32_t> takenTids_;
  uint32_t nextSyntheticTid_ = kSyntheticTidBase;
  uint64_t nextFlowId_ = 1;
};

}  // namespace moeprof::collector::perfetto
