#pragma once
// The trace store: the run directory's `trace.sqlite`, an SQLite database of trace events whose
// tables follow Nsight Systems' SQLite export where they overlap (NVTX_EVENTS, StringIds,
// CUPTI_ACTIVITY_KIND_*), so that queries written for nsys exports work on moeprof runs.
// The tables are documented in collector/TRACE_STORE.md. SQLite stays out of this header.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "collector/trace_events.h"

struct sqlite3;

namespace moeprof::collector {

inline constexpr const char* kTraceFileName = "trace.sqlite";
// TraceWriter commits as soon as its queue holds this many items, whatever the interval: it
// bounds the memory held between periodic flushes.
inline constexpr size_t kTraceFlushEvents = 64 * 1024;

// Writes events to a new trace store from a background writer thread. append*() only moves the
// event into an in-memory queue under a mutex, so the workload thread never waits on the disk;
// the writer thread drains the queue in one transaction at least every flushInterval (and as
// soon as the queue holds kTraceFlushEvents events), so a killed run loses at most about one
// interval. Errors on the writer thread (disk full, I/O) are kept and rethrown as
// std::runtime_error by every later append/flush, and by close() unless a flush() already did;
// the failed transaction is rolled back, so what was committed before stays readable, and
// nothing is written after the error. Sources that append from noexcept contexts (allocator
// frees, RecordFunction callbacks) must catch: the run then learns of the error at close().
class TraceWriter {
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
  ~TraceWriter();  // close(); an error not yet reported is printed to stderr, never thrown
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  void appendOperator(OperatorEvent event);
  void appendRange(RangeEvent event);
  void appendMemory(const MemoryEvent& event);
  void appendRouting(RoutingEvent event);
  void setMeta(const std::string& key, const std::string& value);  // queued like events

  void flush();  // blocks until everything appended so far is committed
  // Flushes, stops the writer thread and closes the database; idempotent. Throws a writer error
  // that no earlier flush()/close() has reported (one seen only by append*() still counts).
  void close();

  Stats stats() const;
  const std::filesystem::path& path() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a trace store (read-only; a store still being written, or left by a killed run, reads
// as far as its last committed transaction). Throws InputError naming the file when it is
// missing, is not an SQLite database (corrupt or truncated), is not a moeprof trace store (no
// META) or has another schema_version.
class TraceReader {
 public:
  explicit TraceReader(const std::filesystem::path& file);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  int schemaVersion() const { return schemaVersion_; }
  std::string meta(const std::string& key) const;  // "" when absent

  // Ordered by start; ties put the enclosing event (the longer one) first, then insertion order.
  std::vector<OperatorEvent> operators() const;
  std::vector<RangeEvent> ranges() const;
  // Ordered by timestamp, then insertion order.
  std::vector<MemoryEvent> memory() const;
  std::vector<RoutingEvent> routing() const;

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };

  std::filesystem::path path_;
  std::unique_ptr<sqlite3, Closer> db_;
  int schemaVersion_ = 0;
};

}  // namespace moeprof::collector
