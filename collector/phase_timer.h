#pragma once
// Phase accounting for the latency breakdown: wall time per workload phase (gate, dispatch,
// experts, combine, attention), each phase also an NVTX range so that any NVTX listener
// (Nsight Systems, moeprof's collector) sees the same boundaries.
#include <array>
#include <chrono>
#include <cstdint>

namespace moeprof::collector {

enum class Phase : uint8_t { Gate, Dispatch, Experts, Combine, Attention, Other };
inline constexpr int kPhaseCount = 6;
const char* phaseName(Phase phase);  // "gate", "dispatch", ...

// Pushes an NVTX range in the "moeprof" domain for its lifetime. The trace gets it through
// NVTX like any other NVTX range (collector/sources/nvtx_source.h), never directly, so that
// whichever tool NVTX is attached to (moeprof, Nsight Systems, CUPTI) sees it exactly once. Costs
// an indirect call to a no-op when no tool is attached.
class NvtxRange {
 public:
  explicit NvtxRange(const char* name);
  ~NvtxRange();
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

// Sums wall time per phase over any number of scopes. Phases must not nest in one another;
// "other" is whatever part of a total no scope claimed (see otherNs).
class PhaseTimer {
 public:
  void add(Phase phase, int64_t durationNs) { totalsNs_[static_cast<int>(phase)] += durationNs; }
  int64_t totalNs(Phase phase) const { return totalsNs_[static_cast<int>(phase)]; }
  // Time of `wallNs` not covered by the named phases, clamped at zero.
  int64_t otherNs(int64_t wallNs) const;
  void reset() { totalsNs_ = {}; }

 private:
  std::array<int64_t, kPhaseCount> totalsNs_{};
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
