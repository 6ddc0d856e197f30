#pragma once
// The tier-specific half of Expert Buffering. ExpertStore (workloads/buffering/expert_store.h)
// holds the one cache logic (policies, tickets, read-ahead, prefetching, counters); a tier supplies
// the memory its slots live in and the acts that move expert records into them. Two tiers exist:
// disk -> RAM (DiskTier, workloads/buffering/disk_tier.h: ExpertFile reads on the I/O threads) and
// pinned host memory -> device memory (PinnedHostTier, workloads/buffering/pinned_host_tier.h: CUDA
// copies on non-blocking copy streams). Torch-free, so the CUDA-runtime code can implement it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace moeprof::workloads {

// Which slow tier -> fast tier pair a store runs on: chosen by --device (cpu: disk, cuda:
// pinned host memory).
enum class TierKind { Disk, PinnedHost };
const char* tierKindName(TierKind kind);  // "disk", "pinned_host"

// Memory on a tier's fast side (slots, read-ahead buffers), freed by the function that
// allocated it. Move-only.
class TierMemory {
 public:
  using Free = void (*)(std::byte*);
  TierMemory() = default;
  TierMemory(std::byte* data, int64_t bytes, Free free) : data_(data), bytes_(bytes), free_(free) {}
  TierMemory(TierMemory&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(other.bytes_), free_(other.free_) {}
  TierMemory& operator=(TierMemory&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    std::swap(free_, other.free_);
    return *this;
  }
  TierMemory(const TierMemory&) = delete;
  ~TierMemory() {
    if (data_ && free_) free_(data_);
  }
  std::byte* data() const { return data_; }
  int64_t bytes() const { return bytes_; }

 private:
  std::byte* data_ = nullptr;
  int64_t bytes_ = 0;
  Free free_ = nullptr;
};

// How long one move took. A device tier times the copy itself with events (what the host saw
// includes waiting for fences and for the copy engine), a disk tier leaves timing to the caller.
struct TierTransfer {
  int64_t durationNs = 0;
  bool timedOnDevice = false;
};

// What a tier's bandwidth probe measured: bytes per second of each trial, with `depth` transfers
// of `transferBytes` in flight all the time.
struct TierPeakTrials {
  std::vector<double> bytesPerSecond;
  uint32_t depth = 1;
  int64_t transferBytes = 0;
  bool random = false;  // one record at a random (layer, expert) per transfer
};

// One I/O thread's handle on the tier (a device tier: its own copy stream and events). Used by
// that thread only.
class TierLane {
 public:
  virtual ~TierLane() = default;
  // Moves records (layer, first), (layer, first + 1), ... into destinations[i] (fast-side memory
  // from ExpertTier::allocate), each after fence fences[i] (see ExpertTier::release), and returns
  // once they have landed.
  virtual TierTransfer move(uint32_t layer, uint32_t first,
                            std::span<std::byte* const> destinations,
                            std::span<const uint32_t> fences) = 0;
};

// A slow tier -> fast tier pair. Fences are numbered 0 .. count - 1 by the store, one per piece
// of fast memory a move may overwrite (each slot, each read-ahead buffer).
class ExpertTier {
 public:
  virtual ~ExpertTier() = default;
  virtual TierKind kind() const = 0;
  // Fast-side memory for `bytes` (a multiple of the record size), aligned for the tier's moves.
  virtual TierMemory allocate(int64_t bytes) = 0;
  virtual std::unique_ptr<TierLane> openLane() = 0;
  virtual void setFenceCount(uint32_t count) = 0;
  // The store lets go of the memory behind `fence`: compute issued so far may still read it (on
  // a GPU kernels run after the host moved on), and a move into it waits for that compute.
  virtual void release(uint32_t fence) = 0;
  // Copies a record between two pieces of fast memory, after the compute issued so far and
  // before the compute issued later; a later move into `source` waits for the copy (its fence).
  virtual void copyWithin(std::byte* target, const std::byte* source, int64_t bytes,
                          uint32_t sourceFence) = 0;
  // The slow side's contents held in host memory (the pinned copy), 0 for a disk tier.
  virtual int64_t hostBytes() const = 0;
  // The tier's bandwidth: `trials` passes with `depth` transfers in flight all the time, each
  // one record at a random (layer, expert) (what misses move), or with `largeTransfers` large
  // chunks in order (the tier at its best). Trials are numbered from `firstTrial`: repeated
  // probes move different records.
  virtual TierPeakTrials measurePeak(uint32_t depth, int trials, bool largeTransfers,
                                     int firstTrial) = 0;
};

// The fence of each slot and read-ahead buffer: slots of cache c are c * slotsPerCache + s,
// read-ahead buffers follow all slots.
struct FenceNumbering {
  uint32_t caches = 0, slotsPerCache = 0, readAheadBuffers = 0;
  uint32_t slot(uint32_t cache, uint32_t s) const { return cache * slotsPerCache + s; }
  uint32_t readAhead(uint32_t buffer) const { return caches * slotsPerCache + buffer; }
  uint32_t count() const { return caches * slotsPerCache + readAheadBuffers; }
};

}  // namespace moeprof::workloads
