#include "collector/sources/memory_tracker.h"

#include <algorithm>
#include <tuple>

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

#include "collector/trace_events.h"
#include "collector/trace_sink.h"

namespace moeprof::collector {

namespace {
// The type LibTorch reports its allocator totals in: int64_t up to 1.13, size_t in 2.x. Taken
// from the base class's own signature, so the override matches either.
template <typename Result, typename Class, typename... Arguments>
std::tuple<Arguments...> argumentsOf(Result (Class::*)(Arguments...));
using TotalBytes =
    std::tuple_element_t<2,
                         decltype(argumentsOf(&c10::MemoryReportingInfoBase::reportMemoryUsage))>;
}  // namespace

struct MemoryTracker::Reporter : c10::MemoryReportingInfoBase {
  std::atomic<int64_t> currentBytes{0};
  std::atomic<int64_t> peakBytes{0};
  std::atomic<int64_t> resetBaseBytes{0};
  std::atomic<int64_t> allocations{0};
  std::atomic<TraceSink*> trace{nullptr};

  void reportMemoryUsage(void* ptr, int64_t deltaBytes, TotalBytes totalAllocated,
                         TotalBytes totalReserved, c10::Device device) override {
    if (TraceSink* writer = trace.load(std::memory_order_relaxed)) {
      // Frees are reported from noexcept destructors: a store error (disk full) must not
      // escape here. The writer keeps it and its close() reports it.
      try {
        writer->append(MemoryEvent{
            traceClockNs(), traceThreadId(), static_cast<int8_t>(device.type()),
            static_cast<int8_t>(device.index()), deltaBytes, static_cast<int64_t>(totalAllocated),
            static_cast<int64_t>(totalReserved), reinterpret_cast<uint64_t>(ptr)});
      } catch (const std::exception&) {
        trace.store(nullptr);
      }
    }
    int64_t now = currentBytes.fetch_add(deltaBytes, std::memory_order_relaxed) + deltaBytes;
    if (deltaBytes > 0) allocations.fetch_add(1, std::memory_order_relaxed);
    int64_t peak = peakBytes.load(std::memory_order_relaxed);
    while (now > peak && !peakBytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  bool memoryProfilingEnabled() const override { return true; }
};

struct MemoryTracker::Scope::Guard {
  c10::DebugInfoGuard guard;
  explicit Guard(std::shared_ptr<Reporter> reporter)
      : guard(c10::DebugInfoKind::PROFILER_STATE, std::move(reporter)) {}
};

MemoryTracker::MemoryTracker() : reporter_(std::make_shared<Reporter>()) {}
MemoryTracker::~MemoryTracker() = default;

int64_t MemoryTracker::currentBytes() const {
  return reporter_->currentBytes.load();
}

int64_t MemoryTracker::peakAboveResetBytes() const {
  return std::max<int64_t>(0, reporter_->peakBytes.load() - reporter_->resetBaseBytes.load());
}

void MemoryTracker::resetPeak() {
  int64_t now = reporter_->currentBytes.load();
  reporter_->resetBaseBytes.store(now);
  reporter_->peakBytes.store(now);
}

int64_t MemoryTracker::allocationCount() const {
  return reporter_->allocations.load();
}

void MemoryTracker::setTrace(TraceSink* trace) {
  reporter_->trace.store(trace);
}

MemoryTracker::Scope::Scope(MemoryTracker& tracker)
    : guard_(std::make_unique<Guard>(tracker.reporter_)) {}
MemoryTracker::Scope::~Scope() = default;

}  // namespace moeprof::collector
