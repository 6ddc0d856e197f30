#pragma once
// Measures the memory LibTorch allocates, from LibTorch's own allocator reporting (the hook its
// profiler uses, which sees every allocation and free of the CPU allocator and the CUDA caching
// allocator). Only allocations made on threads inside an active Scope are seen.
#include <atomic>
#include <cstdint>
#include <memory>

namespace moeprof::collector {

class TraceSink;

class MemoryTracker {
 public:
  MemoryTracker();
  ~MemoryTracker();
  MemoryTracker(const MemoryTracker&) = delete;
  MemoryTracker& operator=(const MemoryTracker&) = delete;

  // Bytes allocated minus bytes freed since the tracker was created (may go negative when a
  // tensor allocated before is freed inside a scope).
  int64_t currentBytes() const;
  // Highest currentBytes() since the last resetPeak(), relative to currentBytes() at that reset.
  int64_t peakAboveResetBytes() const;
  void resetPeak();
  int64_t allocationCount() const;
  // Also records every allocation and free as a trace event (null: stop recording).
  void setTrace(TraceSink* trace);

  // Routes the calling thread's allocator reports to the tracker while it lives.
  class Scope {
   public:
    explicit Scope(MemoryTracker& tracker);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    struct Guard;
    std::unique_ptr<Guard> guard_;
  };

  struct Reporter;  // the LibTorch-facing side, defined in the .cpp

 private:
  std::shared_ptr<Reporter> reporter_;
};

}  // namespace moeprof::collector
