#pragma once
// The CUPTI activity source: records what a CUDA GPU did (kernels, copies, memsets, device
// memory, CUDA runtime and driver calls, CUPTI's own overhead, NVTX markers) into a trace, on
// the trace clock, with every kernel and copy linked to the LibTorch operator that issued it.
// No CUPTI or LibTorch type appears here: the collector builds without CUPTI (then every
// CuptiSource reports "unavailable: built without CUPTI") and its users need no CUDA headers.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "collector/sources/operator_source.h"

namespace moeprof::collector {

class TraceSink;

// Collects CUPTI activity records into a TraceSink between start() and stop(), as Kineto does:
// CONCURRENT_KERNEL (never KERNEL, which serializes kernels), MEMCPY, MEMCPY2, MEMSET, MEMORY2,
// MARKER, RUNTIME, DRIVER, EXTERNAL_CORRELATION and OVERHEAD, into 8 MB buffers from a pool
// that CUPTI fills and hands back (flushed at least once a second). CUPTI's callbacks carry no
// user pointer, so the active source is process-wide state: one CuptiSource runs at a time.
// As an OperatorObserver it pushes each operator's correlation id as CUPTI's external id, so
// the trace's CorrelationEvents map CUPTI correlation ids to OperatorEvent::correlationId.
class CuptiSource final : public OperatorObserver {
 public:
  struct Options {
    int64_t bufferBytes = 8 << 20;  // per activity buffer
    // Buffers the pool may hold in all. When CUPTI has them all, it drops records (counted).
    int32_t maxBuffers = 32;
    int32_t preallocatedBuffers = 2;  // allocated at start(), before the measured work runs
    uint32_t flushPeriodMs = 1000;    // CUPTI hands over partly filled buffers this often
  };

  // Whether CUPTI can trace here, and if not why ("unavailable: built without CUPTI",
  // "unavailable: no CUDA device (CUDA driver version is insufficient ...)").
  struct Availability {
    bool available = false;
    std::string reason;  // empty when available
  };
  static Availability availability();

  CuptiSource();
  explicit CuptiSource(Options options);
  ~CuptiSource() override;  // stop()
  CuptiSource(const CuptiSource&) = delete;
  CuptiSource& operator=(const CuptiSource&) = delete;

  // Starts collecting into `sink` and records how GPU timestamps were aligned
  // (META gpu_clock_alignment, gpu_clock_offset_ns) and "cupti" = "active ...". Throws
  // std::runtime_error("unavailable: <reason>") when CUPTI cannot trace (no GPU, no driver,
  // another CUPTI client), leaving nothing enabled; std::logic_error when this or another
  // CuptiSource is already running.
  void start(TraceSink& sink);
  // Flushes every buffer into the sink, disables CUPTI's activity kinds and appends
  // SourceStats{"cupti", events, dropped records, time spent parsing}. Safe to call twice.
  void stop();
  bool running() const;

  // Whether NVTX ranges reach the trace through CUPTI's MARKER records, so that an NVTX source
  // would record them twice: MARKER is enabled and NVTX_INJECTION64_PATH names libcupti (NVTX
  // hands its calls to one injection library, and only that variable makes it CUPTI).
  bool capturesNvtx() const;

  // Tags the CUDA work the calling thread issues from now on with `operatorCorrelationId`
  // (CUPTI's external correlation stack, per thread). No effect unless running.
  void pushExternalCorrelation(uint64_t operatorCorrelationId);
  void popExternalCorrelation();

  // OperatorObserver: wraps each operator in push/popExternalCorrelation.
  void operatorStarted(uint64_t correlationId) override;
  void operatorEnded(uint64_t correlationId) override;

  struct Impl;  // public only for the CUPTI callbacks in the .cpp

 private:
  Options options_;
  std::unique_ptr<Impl> impl_;        // non-null while running
  std::atomic<bool> running_{false};  // read by operator threads (push/pop)
};

}  // namespace moeprof::collector
