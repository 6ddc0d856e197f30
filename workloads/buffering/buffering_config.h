#pragma once
// How a run buffers experts (Huang et al., Expert Buffering, and Pre-gated MoE's prefetching): the
// eviction policy, the slots, their scope and what is fetched ahead of need. Torch-free, so run
// options can hold it.
#include <cstdint>
#include <string>

#include "analysis/cache_simulation.h"
#include "workloads/buffering/expert_tier.h"

namespace moeprof::workloads {

// What is brought in ahead of need, one MoE layer ahead: nothing (fetch on a miss,
// "MoE-OnDemand"), every expert of the next layer ("MoE-Prefetch"), the experts the next layer's
// router picks for this layer's input (pre-gating, training-free), or the experts the next layer
// really uses (oracle, from a recording pass).
enum class PrefetchMode { Off, All, Pregate, Oracle };
PrefetchMode parsePrefetchMode(const std::string& text);  // InputError on anything else
const char* prefetchModeName(PrefetchMode mode);

struct BufferingConfig {
  std::string policy = "lifo";  // an analysis::kPolicyNames entry
  uint32_t slotsPerLayer = 0;   // Global scope: one pool of slotsPerLayer x layers
  analysis::CacheScope scope = analysis::CacheScope::Layer;
  PrefetchMode prefetch = PrefetchMode::Off;
  // Reads in flight at once (I/O threads): one read at a time leaves most of an SSD's or a
  // virtual disk's bandwidth unused.
  uint32_t ioDepth = kDefaultIoDepth;
  static constexpr uint32_t kDefaultIoDepth = 4;
  static constexpr uint32_t kMaxIoDepth = 64;
  // Buffers outside the slots (one expert record each) that the misses of a call are read into
  // while the expert holding their slot has still to run, so that io-depth reads stay in flight
  // where a policy refills one slot over and over (LIFO); they count as resident expert memory.
  uint32_t readAheadBuffers = kDefaultReadAheadBuffers;
  static constexpr uint32_t kDefaultReadAheadBuffers = 8;
  static constexpr uint32_t kMaxReadAheadBuffers = 1024;
  // Where experts wait and where they run from: disk -> RAM slots (--device cpu), or pinned host
  // memory -> device slots (--device cuda).
  TierKind tier = TierKind::Disk;
  // Belady's MIN and the oracle prefetcher know the run's future from a recording pass.
  bool needsRecordingPass() const { return policy == "belady" || prefetch == PrefetchMode::Oracle; }
};

}  // namespace moeprof::workloads
