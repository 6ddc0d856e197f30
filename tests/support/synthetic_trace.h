#pragma once
// Test support: a small, fixed trace with one of everything the Perfetto export draws, and the
// awkward cases it must handle. Times are ns on a base of 1 ms, so they print as 1000.xyz µs.
//  - thread 101 ("main" in META): nested operators, CUDA API calls (runtime and driver), NVTX
//    ranges with one that partially overlaps another, a mark, an operator that partially
//    overlaps another, an operator whose first child starts with it, collector overhead, and
//    names that need JSON escaping (quotes, control characters, UTF-8, an invalid byte);
//  - thread 102: one operator and CUPTI overhead;
//  - GPU 0, streams 7 and 13: kernels, a memcpy and a memset; GPU 1, stream 7: one kernel;
//  - CPU and CUDA memory (out of time order, as a TraceBuffer may hold them);
//  - an expert cache: hits, misses, an eviction at a miss's timestamp, a prefetch, a miss whose
//    transfer is missing; two transfers that partially overlap; routing of two MoE layers.
// Flows expected: 9 drawn, 3 dropped (an operator, an API call and a transfer missing), 1
// unbindable (the operator whose child starts with it); 3 slices move to overlap tracks.
#include <string>

#include "collector/trace_events.h"

namespace moeprof::testing {

// An operator `name` on `thread` over [start, end) ns, the rest default: for hand-made traces.
inline collector::OperatorEvent op(const std::string& name, uint64_t thread, int64_t start,
                                   int64_t end) {
  collector::OperatorEvent event;
  event.name = name;
  event.threadId = thread;
  event.startNs = start;
  event.endNs = end;
  return event;
}

inline collector::Trace syntheticTrace() {
  using namespace collector;
  constexpr int64_t B = 1'000'000;  // base: 1 ms
  Trace t;
  t.meta = {{"clock", "CLOCK_MONOTONIC"},
            {"model", "synthetic"},
            {"schema_version", "2"},
            {"thread_name.101", "main"}};
  t.operators = {
      {B + 1'100, B + 10'000, 101, "aten::linear", 5, 0, 1},
      {B + 1'200, B + 9'000, 101, "aten::addmm", -1, 1, 2},
      {B + 11'100, B + 12'000, 101, "aten::softmax", -1, 0, 3},
      {B + 20'000, B + 30'000, 101, "aten::copy_", -1, 0, 4},
      {B + 29'000, B + 31'000, 101, "custom::jitter \"late\"\t\\", -1, 0, 0},
      {B + 70'000, B + 75'000, 101, "aten::same_start", -1, 0, 6},
      {B + 80'600, B + 80'700, 101, "\xC2\xB5op \xFF tail\x01", -1, 0, 0},
      {B + 40'000, B + 41'000, 102, "aten::mul", -1, 0, 5},
  };
  t.ranges = {
      {B, B + 90'000, 101, "moeprof", "lm.forward", false},
      {B + 1'000, B + 10'500, 101, "moeprof", "gate", false},
      {B + 11'000, B + 60'250, 101, "moeprof", "experts", false},
      {B + 55'000, B + 70'000, 101, "moeprof", "combine", false},  // partially overlaps experts
      {B + 20'000, B + 20'000, 101, "", "checkpoint", true},
  };
  t.apiCalls = {
      {B + 1'300, B + 1'400, 101, 1001, ApiEvent::Api::Runtime, "cudaLaunchKernel", 0},
      {B + 1'320, B + 1'380, 101, 1005, ApiEvent::Api::Driver, "cuLaunchKernel", 0},
      {B + 11'200, B + 11'300, 101, 1002, ApiEvent::Api::Runtime, "cudaLaunchKernel", 0},
      {B + 20'100, B + 20'300, 101, 1003, ApiEvent::Api::Runtime, "cudaMemcpyAsync", 0},
      {B + 30'500, B + 30'600, 101, 1004, ApiEvent::Api::Runtime, "cudaMalloc", 2},
      {B + 70'000, B + 70'100, 101, 1007, ApiEvent::Api::Runtime, "cudaLaunchKernel", 0},
  };
  t.correlations = {{1001, 2}, {1002, 3}, {1003, 4}, {1004, 4}, {1006, 99}, {1007, 6}};
  t.kernels = {
      {B + 2'000, B + 8'000, 0, 1, 7, 1001, "void gemm<float, 128>(float*)", 64, 1, 1, 128, 1, 1,
       32, 1024, 0},
      {B + 11'500, B + 11'900, 0, 1, 7, 1002, "softmax_kernel", 8, 1, 1, 256, 1, 1, 16, 0, 512},
      {B + 50'000, B + 50'100, 0, 1, 7, 1006, "orphan_kernel", 1, 1, 1, 32, 1, 1, 8, 0, 0},
      {B + 71'000, B + 72'000, 0, 1, 7, 1007, "late_kernel", 1, 1, 1, 32, 1, 1, 8, 0, 0},
      {B + 60'000, B + 61'000, 1, 2, 7, 0, "peer_kernel", 2, 2, 1, 64, 2, 1, 24, 0, 0},
  };
  t.memcpys = {{B + 20'400, B + 25'000, 0, 1, 13, 1003, 1 << 20, 1, 1, 3, -1, -1}};
  t.memsets = {{B + 26'000, B + 26'100, 0, 1, 13, 0, 4096, 0}};
  t.overheads = {
      {B + 80'000, B + 80'500, 101, "collector.flush"},
      {B + 50'000, B + 51'000, 102, "cupti.buffer_flush"},
  };
  t.memory = {
      {B + 1'150, 101, 0, -1, 1000, 1000, 4096, 0x1000},
      {B + 9'500, 101, 0, -1, -1000, 2000, 4096, 0x1000},  // out of order on purpose
      {B + 1'250, 101, 0, -1, 2000, 3000, 4096, 0x2000},
      {B + 10'100, 101, 0, -1, -2000, 0, 4096, 0x2000},
      {B + 19'000, 101, 1, 0, 1 << 20, 1 << 20, 2 << 20, 0x7f0000},
      {B + 26'500, 101, 1, 0, -(1 << 20), 0, 2 << 20, 0x7f0000},
  };
  t.routing = {
      {B + 10'150, 0, 1, 0, 8, {4, 2, 6, 4}},
      {B + 60'400, 0, 3, 0, 8, {8, 0, 0, 8}},
  };
  t.cache = {
      {B + 10'200, 0, 1, 3, 0, CacheAction::Hit, 0},
      {B + 10'300, 0, 1, 5, 1, CacheAction::Miss, 77},
      {B + 10'300, 0, 1, 2, 1, CacheAction::Evict, 0},
      {B + 10'400, 0, 1, 6, 2, CacheAction::Prefetch, 78},
      {B + 10'450, 0, 3, 1, 0, CacheAction::Miss, 79},  // transfer 79 is not in the trace
      {B + 60'500, 0, 3, 1, 0, CacheAction::Hit, 0},
  };
  t.transfers = {
      {B + 10'350, B + 15'000, 103, 77, 1, 5, 4 << 20, MemoryTier::Disk, MemoryTier::Host, false},
      {B + 10'400, B + 16'000, 103, 78, 1, 6, 4 << 20, MemoryTier::Host, MemoryTier::Device, true},
  };
  t.sources = {{"nvtx", 4, 0, 1200}, {"operators", 8, 0, 0}};
  return t;
}

}  // namespace moeprof::testing
