#pragma once
// The trace store: the run directory's `trace.sqlite`, an SQLite database of trace events whose
// tables follow Nsight Systems' SQLite export where they overlap (NVTX_EVENTS, StringIds,
// CUPTI_ACTIVITY_KIND_*), so that queries written for nsys exports work on moeprof runs.
// The tables are documented in collector/store/TRACE_STORE.md; collector/store/trace_reader.h reads them.
// SQLite stays out of this header.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "collector/trace_events.h"
#include "collector/trace_sink.h"

namespace moeprof::collector {

inline constexpr const char* kTraceFileName = "trace.sqlite";
// TraceWriter commits as soon as its queue holds this many items, whatever the interval: it
// bounds the memory held between periodic flushes.
inline constexpr size_t kTraceFlushEvents = 64 * 1024;
// NVTX_EVENTS.eventType values of Nsight Systems' export.
inline constexpr int kNvtxMarkEventType = 34;
inline constexpr int kNvtxPushPopRangeEventType = 59;

// Writes events to a new trace store from a background writer thread. append() only moves the
// event into an in-memory queue under a mutex, so the workload thread never waits on the disk;
// the writer thread drains the queue in one transaction at least every flushInterval (and as
// soon as the queue holds kTraceFlushEvents events), so a killed run loses at most about one
// interval. Errors on the writer thread (disk full, I/O) are kept and rethrown as
// std::runtime_error by every later append/flush, and by close() unless a flush() already did;
// the failed transaction is rolled back, so what was committed before stays readable, and
// nothing is written after the error. Sources that append from noexcept contexts (allocator
// frees, RecordFunction callbacks) must catch: the run then learns of the error at close().
class TraceWriter final : public TraceSink {
 public:
  // Counters of what the writer thread committed.
  struct Stats {
    int64_t eventsWritten = 0;  // events (not META rows) in committed transactions
    int64_t transactions = 0;   // committed write transactions of the writer thread
  };

  // Creates `file` (std::runtime_error naming it when it exists or cannot be created), its
  // tables and META rows, and starts the writer thread. maxFileBytes > 0 caps the database
  // size: writing beyond it fails like a full disk (SQLITE_FULL); 0 means no cap.
  explicit TraceWriter(const std::filesystem::path& file,
                       std::chrono::milliseconds flushInterval = std::chrono::seconds(1),
                       int64_t maxFileBytes = 0);
  ~TraceWriter() override;  // close(); an error not yet reported goes to stderr, never thrown
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  void append(OperatorEvent event) override;
  void append(std::vector<OperatorEvent> events) override;
  void append(RangeEvent event) override;
  void append(const MemoryEvent& event) override;
  void append(KernelEvent event) override;
  void append(const MemcpyEvent& event) override;
  void append(const MemsetEvent& event) override;
  void append(ApiEvent event) override;
  void append(const CorrelationEvent& event) override;
  void append(OverheadEvent event) override;
  void append(RoutingEvent event) override;
  void append(const CacheEvent& event) override;
  void append(const TransferEvent& event) override;
  void append(SourceStats stats) override;
  void setMeta(const std::string& key, const std::string& value) override;  // queued like events

  void flush();  // blocks until everything appended so far is committed
  // Flushes, stops the writer thread and closes the database; idempotent. Throws a writer error
  // that no earlier flush()/close() has reported (one seen only by append() still counts).
  void close();

  Stats stats() const;
  const std::filesystem::path& path() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace moeprof::collector
