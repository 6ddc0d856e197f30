#pragma once
// The trace event model: what the collector records, on one clock (CLOCK_MONOTONIC, ns).
// Sources fill these records; sinks (the SQLite trace store, later Perfetto) write them.
// Bump kTraceSchemaVersion whenever a record or the store's tables change meaning.
#include <cstdint>
#include <string>
#include <vector>

namespace moeprof::collector {

inline constexpr int kTraceSchemaVersion = 1;

// A LibTorch operator (RecordFunction callback) on one CPU thread.
struct OperatorEvent {
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint64_t threadId = 0;
  std::string name;            // e.g. "aten::addmm"
  int64_t sequenceNr = -1;     // autograd sequence number, -1 when none
  int32_t depth = 0;           // nesting depth on its thread (0 = outermost)
  uint64_t correlationId = 0;  // unique per operator call; GPU kernels will point to it
};

// An NVTX-style range (push/pop) or mark (startNs == endNs) in a named domain.
struct RangeEvent {
  int64_t startNs = 0;
  int64_t endNs = 0;
  uint64_t threadId = 0;
  std::string domain;  // "moeprof" for ours
  std::string text;    // "gate", "experts", "mt.encoder", ...
  bool isMark = false;
};

// One allocation (bytes > 0) or free (bytes < 0) with the running totals after it.
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

// The routing of one batch through one MoE layer, summarized: tokens per expert.
struct RoutingEvent {
  int64_t timestampNs = 0;
  uint32_t batch = 0;
  uint32_t moeLayer = 0;
  uint32_t step = 0;
  uint32_t tokens = 0;                    // tokens routed (each goes to top-k experts)
  std::vector<uint32_t> tokensPerExpert;  // assignments per expert, dropped ones included
};

// Nanoseconds on the collector's clock (CLOCK_MONOTONIC).
int64_t traceClockNs();
// The kernel's id of the calling thread (what Nsight Systems shows as TID).
uint64_t traceThreadId();

}  // namespace moeprof::collector
