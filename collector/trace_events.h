#pragma once
// The trace event model: what the collector records, on one clock (CLOCK_MONOTONIC, ns).
// Sources fill these records and hand them to a TraceSink (collector/trace_sink.h); sinks (the
// SQLite trace store, the in-memory TraceBuffer) keep them, exports read them back as a Trace.
// Bump kTraceSchemaVersion whenever a record or the store's tables change meaning.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace moeprof::collector {

inline constexpr int kTraceSchemaVersion = 2;

// ---- Host activity ----------------------------------------------------------------------------

// A LibTorch operator (RecordFunction callback) on one CPU thread.
struct OperatorEvent {
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint64_t threadId = 0;
  std::string name;            // e.g. "aten::addmm"
  int64_t sequenceNr = -1;     // autograd sequence number, -1 when none
  int32_t depth = 0;           // nesting depth on its thread (0 = outermost)
  uint64_t correlationId = 0;  // unique per operator call; CorrelationEvent::externalId
};

// An NVTX-style range (push/pop) or mark (startNs == endNs) in a named domain.
struct RangeEvent {
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint64_t threadId = 0;
  std::string domain;  // "moeprof" for ours; "" for NVTX's default domain
  std::string text;    // "gate", "experts", "mt.encoder", ...
  bool isMark = false;
};

// One allocation (bytes > 0) or free (bytes < 0) with the running totals after it, on the
// device it names (LibTorch's allocators on the host, CUPTI MEMORY2 records on a GPU).
struct MemoryEvent {
  int64_t timestampNs = 0;
  uint64_t threadId = 0;
  int8_t deviceType = 0;  // 0 = CPU, 1 = CUDA (c10::DeviceType values)
  int8_t deviceIndex = -1;
  int64_t bytes = 0;
  int64_t totalAllocatedBytes = 0;
  int64_t totalReservedBytes = 0;
  uint64_t address = 0;
};

// ---- GPU activity (CUPTI); timestamps already on the host clock ------------------------------

// One kernel execution (CUPTI CONCURRENT_KERNEL).
struct KernelEvent {
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint32_t deviceId = 0;
  uint32_t contextId = 0;
  uint32_t streamId = 0;
  uint64_t correlationId = 0;  // CUPTI's: the ApiEvent that launched it has the same id
  std::string name;            // demangled
  int32_t gridX = 0, gridY = 0, gridZ = 0;
  int32_t blockX = 0, blockY = 0, blockZ = 0;
  int32_t registersPerThread = 0;
  int32_t staticSharedBytes = 0;
  int32_t dynamicSharedBytes = 0;
};

// CUPTI's memory kinds and copy kinds keep CUPTI's numbering (CUpti_ActivityMemoryKind,
// CUpti_ActivityMemcpyKind), so a value reads the same in both worlds.
enum class CopyKind : uint8_t {
  Unknown = 0,
  HostToDevice = 1,
  DeviceToHost = 2,
  DeviceToDevice = 8,
  HostToHost = 9,
  PeerToPeer = 10,
};
const char* copyKindName(uint8_t copyKind);  // "HtoD", "DtoH", ..., "UVM DtoD", "unknown"

// One copy (CUPTI MEMCPY, and MEMCPY2 for peer copies).
struct MemcpyEvent {
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint32_t deviceId = 0;
  uint32_t contextId = 0;
  uint32_t streamId = 0;
  uint64_t correlationId = 0;
  int64_t bytes = 0;
  uint8_t copyKind = 0;  // CopyKind
  uint8_t srcKind = 0;   // CUpti_ActivityMemoryKind: 1 pageable, 2 pinned, 3 device, ...
  uint8_t dstKind = 0;
  int32_t srcDeviceId = -1;  // peer copies only
  int32_t dstDeviceId = -1;
};

// One memset (CUPTI MEMSET).
struct MemsetEvent {
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint32_t deviceId = 0;
  uint32_t contextId = 0;
  uint32_t streamId = 0;
  uint64_t correlationId = 0;
  int64_t bytes = 0;
  uint32_t value = 0;
};

// A CUDA runtime or driver call (CUPTI RUNTIME / DRIVER): the host side of a launch or copy.
struct ApiEvent {
  enum class Api : uint8_t { Runtime = 0, Driver = 1 };
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint64_t threadId = 0;
  uint64_t correlationId = 0;
  Api api = Api::Runtime;
  std::string name;  // "cudaLaunchKernel", "cuMemcpyAsync", ...
  int32_t returnValue = 0;
};

// Links a CUPTI correlation id (kernels, copies, API calls) to the operator that issued it
// (CUPTI EXTERNAL_CORRELATION; externalId is OperatorEvent::correlationId).
struct CorrelationEvent {
  uint64_t correlationId = 0;
  uint64_t externalId = 0;
};

// Time the profiler itself took: CUPTI's OVERHEAD records, and the collector's own buffer
// handling. Analyses subtract or at least show it.
struct OverheadEvent {
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint64_t threadId = 0;
  std::string kind;  // "cupti.buffer_flush", "cupti.instrumentation", "collector.flush", ...
};

// ---- MoE app events (workloads emit them through the collector) ------------------------------

// The routing of one batch through one MoE layer, summarized: tokens per expert.
struct RoutingEvent {
  int64_t timestampNs = 0;
  uint32_t batch = 0;
  uint32_t moeLayer = 0;
  uint32_t step = 0;
  uint32_t tokens = 0;                    // tokens routed (each goes to top-k experts)
  std::vector<uint32_t> tokensPerExpert;  // assignments per expert, dropped ones included
};

enum class CacheAction : uint8_t { Hit = 0, Miss = 1, Evict = 2, Prefetch = 3 };
const char* cacheActionName(CacheAction action);  // "hit", "miss", "evict", "prefetch"

// One decision of an expert cache (Expert Buffering): a lookup that hit or missed, an eviction,
// or a prefetch issued. A miss or prefetch that starts a transfer carries its transferId.
struct CacheEvent {
  int64_t timestampNs = 0;
  uint32_t batch = 0;
  uint32_t moeLayer = 0;
  uint32_t expert = 0;
  int32_t slot = -1;  // the cache slot involved, -1 when none
  CacheAction action = CacheAction::Hit;
  uint64_t transferId = 0;  // 0 = no transfer
};

// Where expert weights live: the slow tiers they are fetched from and the fast one they run in.
enum class MemoryTier : uint8_t { Disk = 0, Host = 1, Device = 2 };
const char* memoryTierName(MemoryTier tier);  // "disk", "host", "device"

// One expert's weights moving between tiers (a cache fill), from issue to completion.
struct TransferEvent {
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint64_t threadId = 0;    // the thread that carried it out (I/O thread, copy stream's host)
  uint64_t transferId = 0;  // unique in the run, > 0; CacheEvent::transferId points here
  uint32_t moeLayer = 0;
  uint32_t expert = 0;
  int64_t bytes = 0;
  MemoryTier source = MemoryTier::Disk;
  MemoryTier destination = MemoryTier::Host;
  bool prefetch = false;  // issued ahead of need rather than on a miss
};

// ---- About the collection itself -------------------------------------------------------------

// What one source recorded and lost, written once when it stops (or periodically).
struct SourceStats {
  std::string source;      // "operators", "memory", "nvtx", "cupti", ...
  int64_t events = 0;      // events it handed to the sink
  int64_t dropped = 0;     // records it knows it lost (cuptiActivityGetNumDroppedRecords, ...)
  int64_t overheadNs = 0;  // time it spent in its own callbacks, when it measures that
};

// A whole trace in memory: what TraceReader returns and exports consume. Each vector is in the
// order TraceReader documents (by start or timestamp).
struct Trace {
  std::map<std::string, std::string> meta;
  std::vector<OperatorEvent> operators;
  std::vector<RangeEvent> ranges;
  std::vector<MemoryEvent> memory;
  std::vector<KernelEvent> kernels;
  std::vector<MemcpyEvent> memcpys;
  std::vector<MemsetEvent> memsets;
  std::vector<ApiEvent> apiCalls;
  std::vector<CorrelationEvent> correlations;
  std::vector<OverheadEvent> overheads;
  std::vector<RoutingEvent> routing;
  std::vector<CacheEvent> cache;
  std::vector<TransferEvent> transfers;
  std::vector<SourceStats> sources;
};

// Nanoseconds on the collector's clock (CLOCK_MONOTONIC).
int64_t traceClockNs();
// The kernel's id of the calling thread (what Nsight Systems shows as TID).
uint64_t traceThreadId();

}  // namespace moeprof::collector
