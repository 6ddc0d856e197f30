#pragma once
// Where sources deliver events: an interface with one append() per record type (like Kineto's
// ActivityLogger), so that a source neither knows nor cares whether its events go to the SQLite
// trace store (TraceWriter), to memory (TraceBuffer, for tests and exports) or elsewhere.
// append() may be called from any thread. Workloads emit app events (routing, cache, transfers)
// through a TraceSink pointer that is null when the run is not traced: off costs one branch.
// Sinks report failures as std::runtime_error; sources
// that append from noexcept contexts catch and leave the error to the sink's owner.
#include <mutex>
#include <string>
#include <vector>

#include "collector/trace_events.h"

namespace moeprof::collector {

class TraceSink {
 public:
  virtual ~TraceSink() = default;

  virtual void append(OperatorEvent event) = 0;
  // A batch, as the operator source hands them over: one call instead of one per operator.
  virtual void append(std::vector<OperatorEvent> events) = 0;
  virtual void append(RangeEvent event) = 0;
  virtual void append(const MemoryEvent& event) = 0;
  virtual void append(KernelEvent event) = 0;
  virtual void append(const MemcpyEvent& event) = 0;
  virtual void append(const MemsetEvent& event) = 0;
  virtual void append(ApiEvent event) = 0;
  virtual void append(const CorrelationEvent& event) = 0;
  virtual void append(OverheadEvent event) = 0;
  virtual void append(RoutingEvent event) = 0;
  virtual void append(const CacheEvent& event) = 0;
  virtual void append(const TransferEvent& event) = 0;
  // Keyed: a later call for the same source replaces the earlier one.
  virtual void append(SourceStats stats) = 0;
  // Keyed like SourceStats: the last value of a key wins.
  virtual void setMeta(const std::string& key, const std::string& value) = 0;
};

// Keeps events in a Trace, in arrival order (trace() sorts nothing). Thread-safe.
class TraceBuffer final : public TraceSink {
 public:
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
  void setMeta(const std::string& key, const std::string& value) override;

  Trace trace() const;  // a copy, safe while sources still append

 private:
  mutable std::mutex mutex_;
  Trace trace_;
};

}  // namespace moeprof::collector
