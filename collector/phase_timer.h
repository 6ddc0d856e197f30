#pragma once
// Phase accounting for the latency breakdown: wall time per workload phase (gate, dispatch,
// experts, combine, attention), each phase also an NVTX range so that any NVTX listener
// (Nsight Systems, moeprof's collector) sees the same boundaries.
#include <array>
#include <chrono>
#include <cstdint>

namespace moeprof::collector {

class TraceSink;
class PhaseTimer;

enum class Phase : uint8_t { Gate, Dispatch, Experts, Combine, Attention, Other };
inline constexpr int kPhaseCount = 6;
const char* phaseName(Phase phase);  // "gate", "dispatch", ...

// Pushes an NVTX range in the "moeprof" domain for its lifetime, and records it in the trace
// of `timer` when that timer has one. Costs a predictable branch and an indirect call to a
// no-op when no NVTX tool is attached and nothing is traced.
class NvtxRange {
 public:
  explicit NvtxRange(const char* name, const PhaseTimer* timer = nullptr);
  ~NvtxRange();
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;

 private:
  const char* name_;
  TraceSink* trace_;
  int64_t startNs_ = 0;
};

// Sums wall time per phase over any number of scopes. Phases must not nest in one another;
// "other" is whatever part of a total no scope claimed (see otherNs).
class PhaseTimer {
 public:
  // With a trace writer, every range timed against this timer is also recorded as an event.
  explicit PhaseTimer(TraceSink* trace = nullptr) : trace_(trace) {}
  TraceSink* trace() const { return trace_; }
  void add(Phase phase, int64_t durationNs) { totalsNs_[static_cast<int>(phase)] += durationNs; }
  int64_t totalNs(Phase phase) const { return totalsNs_[static_cast<int>(phase)]; }
  // Time of `wallNs` not covered by the named phases, clamped at zero.
  int64_t otherNs(int64_t wallNs) const;
  void reset() { totalsNs_ = {}; }

 private:
  std::array<int64_t, kPhaseCount> totalsNs_{};
  TraceSink* trace_ = nullptr;
};

// Times one phase into a PhaseTimer (when given one) and marks it with an NVTX range.
class PhaseScope {
 public:
  PhaseScope(PhaseTimer* timer, Phase phase);
  ~PhaseScope();
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  NvtxRange range_;
  PhaseTimer* timer_;
  Phase phase_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace moeprof::collector
