#pragma once
// Reads a trace store written by TraceWriter (collector/store/TRACE_STORE.md). SQLite stays out of
// this header.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "collector/trace_events.h"

struct sqlite3;

namespace moeprof::collector {

// Reads a trace store (read-only; a store still being written, or left by a killed run, reads
// as far as its last committed transaction). Throws InputError naming the file when it is
// missing, is not an SQLite database (corrupt or truncated), is not a moeprof trace store (no
// META) or has another schema_version, and when a row holds a value its field cannot.
class TraceReader {
 public:
  explicit TraceReader(const std::filesystem::path& file);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  int schemaVersion() const { return schemaVersion_; }
  std::string meta(const std::string& key) const;  // "" when absent

  // Everything, each vector in the order of its accessor below.
  Trace readAll() const;

  // Ordered by start; ties put the enclosing event (the longer one) first, then insertion order.
  std::vector<OperatorEvent> operators() const;
  std::vector<RangeEvent> ranges() const;
  // Ordered by start, then insertion order.
  std::vector<KernelEvent> kernels() const;
  std::vector<MemcpyEvent> memcpys() const;
  std::vector<MemsetEvent> memsets() const;
  std::vector<ApiEvent> apiCalls() const;
  std::vector<OverheadEvent> overheads() const;
  std::vector<TransferEvent> transfers() const;
  // Ordered by timestamp, then insertion order.
  std::vector<MemoryEvent> memory() const;
  std::vector<RoutingEvent> routing() const;
  std::vector<CacheEvent> cache() const;
  // In insertion order.
  std::vector<CorrelationEvent> correlations() const;
  // Ordered by source name.
  std::vector<SourceStats> sources() const;

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };

  std::filesystem::path path_;
  std::unique_ptr<sqlite3, Closer> db_;
  int schemaVersion_ = 0;
};

}  // namespace moeprof::collector
