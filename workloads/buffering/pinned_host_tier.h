#pragma once
// The GPU tier of Expert Buffering: every expert record of the run in pinned (page-locked) host
// memory, laid out like the expert file (record (layer, expert) at (layer * experts + expert) *
// recordBytes, parts at ExpertRecordLayout's offsets), copied into device-memory slots with
// cudaMemcpyAsync on non-blocking copy streams, one per I/O thread, so that copies overlap the
// kernels of the compute stream. Written against the CUDA runtime alone (no CUDA ATen): it
// compiles and links wherever the CUDA toolkit is found, and without it create() fails with a
// clear error. Torch-free.
//
// The compute stream is the legacy default stream (cudaStreamLegacy): LibTorch computes on its
// default stream, stream 0, which is the legacy one, and without c10/cuda headers moeprof cannot
// ask LibTorch for another. The copy streams are created non-blocking: a blocking stream would
// synchronize with the legacy stream and no copy would overlap a kernel.
#include <cstdint>
#include <memory>

#include "workloads/buffering/expert_tier.h"

namespace moeprof::workloads {

// What the pinned copy holds: records of `recordBytes` for `layers` x `experts` experts.
struct PinnedHostShape {
  int64_t recordBytes = 0;
  uint32_t layers = 0;
  uint32_t experts = 0;
  int64_t bytes() const { return recordBytes * int64_t{layers} * experts; }
};

class PinnedHostTier : public ExpertTier {
 public:
  // Allocates the pinned copy (to be filled through hostRecords()) on CUDA device `device`.
  // Throws std::runtime_error naming the CUDA error, or the build's lack of CUDA.
  static std::unique_ptr<PinnedHostTier> create(const PinnedHostShape& shape, int device = 0);

  TierKind kind() const final { return TierKind::PinnedHost; }
  virtual std::byte* hostRecords() = 0;
  virtual const PinnedHostShape& shape() const = 0;
  // measurePeak: host-to-device copies out of the pinned copy, one stream per copy in flight (as
  // the store's I/O threads have), random single records or 8 MiB chunks in order, timed with
  // events around each pass.
};

}  // namespace moeprof::workloads
