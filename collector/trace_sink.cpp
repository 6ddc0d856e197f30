#include "collector/trace_sink.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace moeprof::collector {

namespace {

template <typename Event>
void appendLocked(std::mutex& mutex, std::vector<Event>& events, Event event) {
  std::lock_guard lock(mutex);
  events.push_back(std::move(event));
}

}  // namespace

void TraceBuffer::append(OperatorEvent event) {
  appendLocked(mutex_, trace_.operators, std::move(event));
}
void TraceBuffer::append(std::vector<OperatorEvent> events) {
  std::lock_guard lock(mutex_);
  std::move(events.begin(), events.end(), std::back_inserter(trace_.operators));
}
void TraceBuffer::append(RangeEvent event) {
  appendLocked(mutex_, trace_.ranges, std::move(event));
}
void TraceBuffer::append(const MemoryEvent& event) {
  appendLocked(mutex_, trace_.memory, event);
}
void TraceBuffer::append(KernelEvent event) {
  appendLocked(mutex_, trace_.kernels, std::move(event));
}
void TraceBuffer::append(const MemcpyEvent& event) {
  appendLocked(mutex_, trace_.memcpys, event);
}
void TraceBuffer::append(const MemsetEvent& event) {
  appendLocked(mutex_, trace_.memsets, event);
}
void TraceBuffer::append(ApiEvent event) {
  appendLocked(mutex_, trace_.apiCalls, std::move(event));
}
void TraceBuffer::append(const CorrelationEvent& event) {
  appendLocked(mutex_, trace_.correlations, event);
}
void TraceBuffer::append(OverheadEvent event) {
  appendLocked(mutex_, trace_.overheads, std::move(event));
}
void TraceBuffer::append(RoutingEvent event) {
  appendLocked(mutex_, trace_.routing, std::move(event));
}
void TraceBuffer::append(const CacheEvent& event) {
  appendLocked(mutex_, trace_.cache, event);
}
void TraceBuffer::append(const TransferEvent& event) {
  appendLocked(mutex_, trace_.transfers, event);
}

void TraceBuffer::append(SourceStats stats) {
  std::lock_guard lock(mutex_);
  auto same = [&](const SourceStats& kept) { return kept.source == stats.source; };
  auto it = std::find_if(trace_.sources.begin(), trace_.sources.end(), same);
  if (it != trace_.sources.end()) {
    *it = std::move(stats);
  } else {
    trace_.sources.push_back(std::move(stats));
  }
}

void TraceBuffer::setMeta(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  trace_.meta[key] = value;
}

Trace TraceBuffer::trace() const {
  std::lock_guard lock(mutex_);
  return trace_;
}

}  // namespace moeprof::collector
