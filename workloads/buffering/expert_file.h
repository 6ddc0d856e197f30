#pragma once
// The slow tier of Expert Buffering on a CPU-only machine: every MoE layer's expert weights in one
// file, read back expert by expert with real I/O. Reads bypass the page cache (O_DIRECT) where
// the file system allows it, and otherwise drop the pages they read (POSIX_FADV_DONTNEED), so a
// cache miss costs a real read from the device, as a miss on a GPU costs a real PCIe copy.
//
// Layout (version 1, little-endian): a 4096-byte header, then one record per (layer, expert) at
// 4096 + (layer * experts + expert) * recordBytes. A record holds w1 (d_model x ffn), b1 (ffn),
// w2 (ffn x d_model), b2 (d_model) as float32, each starting on a 64-byte boundary, padded to a
// multiple of 4096 bytes (what direct I/O needs).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <sys/uio.h>

#include "kernels/expert_ffn.h"

namespace moeprof::workloads {

// Where the parts of one expert lie inside a record (and inside a slot that holds one).
struct ExpertRecordLayout {
  int64_t dModel = 0;
  int64_t ffn = 0;
  int64_t w1Offset = 0, b1Offset = 0, w2Offset = 0, b2Offset = 0;  // bytes
  int64_t expertBytes = 0;                                         // the weights alone
  int64_t recordBytes = 0;  // with alignment padding, a multiple of kIoAlignment
  static ExpertRecordLayout of(int64_t dModel, int64_t ffn);
  // Views of a record at `base` (float32 CPU tensors that do not own the memory).
  kernels::ExpertView view(std::byte* base) const;
};

inline constexpr int64_t kIoAlignment = 4096;

// The slow tier's read bandwidth as measured by a probe: trials of reads of one size with a given
// number in flight all the time; the median is the peak transfers are judged against. Trials of
// several probes of the same kind can be pooled (add), e.g. samples taken over a whole run.
struct TierBandwidth {
  std::vector<double> trialBytesPerSecond;  // in the order measured
  double medianBytesPerSecond = 0, minBytesPerSecond = 0, maxBytesPerSecond = 0;
  int trials = 0;
  uint32_t depth = 1;     // reads in flight during the probe
  int64_t readBytes = 0;  // bytes per read
  bool random = false;    // reads at random record offsets, else one after the other
  void addTrial(double bytesPerSecond);
  void add(const TierBandwidth& other);  // pools other's trials (same kind of probe) into these
};

// What the probe reads: one expert record at a random record of the file per read (what misses
// read), or large chunks in file order (what the tier streams at best).
enum class ProbePattern { RandomRecords, LargeSequential };

// How reads reach the device: "direct" (O_DIRECT) or "dropped" (buffered reads whose pages are
// dropped right after, for file systems without O_DIRECT).
enum class ExpertIoMode { Direct, Dropped };
const char* expertIoModeName(ExpertIoMode mode);

class ExpertFile {
 public:
  // Opens the file at `path` when it holds exactly these weights (same shape and fingerprint,
  // same first and last expert), else writes it (to a temporary name, then renamed, so a crash
  // never leaves a half file under the real name). Layers' experts must be float32 on the CPU.
  static ExpertFile openOrCreate(const std::filesystem::path& path,
                                 std::span<const kernels::ExpertWeights* const> layers,
                                 uint64_t fingerprint);
  ExpertFile(ExpertFile&& other) noexcept;
  ExpertFile& operator=(ExpertFile&&) = delete;
  ExpertFile(const ExpertFile&) = delete;
  ~ExpertFile();

  // Reads one record into `destination` (kIoAlignment-aligned, recordBytes long). Thread-safe.
  void read(uint32_t layer, uint32_t expert, std::byte* destination) const;
  // Reads the records of experts first, first + 1, ... of one layer, which lie next to each
  // other in the file, into one destination each with a single request (preadv).
  void readAdjacent(uint32_t layer, uint32_t first, std::span<std::byte* const> destinations) const;

  // Read bandwidth of this file in this I/O mode: `trials` passes of up to `bytesPerTrial` each,
  // `depth` reads in flight, pages dropped first. RandomRecords: one record per read at
  // record offsets drawn at random (seeded by the trial, so reruns read the same);
  // LargeSequential: 8 MiB reads over a contiguous part of the file. Trials are numbered from
  // `firstTrial`, so that repeated probes read different records.
  TierBandwidth measureBandwidth(int64_t bytesPerTrial, uint32_t depth, int trials,
                                 ProbePattern pattern = ProbePattern::RandomRecords,
                                 int firstTrial = 0) const;

  const ExpertRecordLayout& layout() const { return layout_; }
  uint32_t numLayers() const { return numLayers_; }
  uint32_t numExperts() const { return numExperts_; }
  ExpertIoMode ioMode() const { return ioMode_; }
  const std::filesystem::path& path() const { return path_; }
  bool reused() const { return reused_; }  // found in the cache rather than written now

 private:
  ExpertFile(std::filesystem::path path, ExpertRecordLayout layout, uint32_t layers,
             uint32_t experts);
  void openForReading();
  int64_t recordOffset(uint32_t layer, uint32_t expert) const;
  void readAt(int64_t offset, std::span<const struct iovec> buffers) const;
  std::pair<std::vector<int64_t>, int64_t> probeOffsets(int64_t bytesPerTrial, uint32_t depth,
                                                        ProbePattern pattern, int trial) const;
  double measureTrial(const std::vector<int64_t>& offsets, int64_t readBytes, uint32_t depth) const;

  std::filesystem::path path_;
  ExpertRecordLayout layout_;
  uint32_t numLayers_ = 0;
  uint32_t numExperts_ = 0;
  int fd_ = -1;
  ExpertIoMode ioMode_ = ExpertIoMode::Direct;
  bool reused_ = false;
};

// The directory expert files are cached in: $MOEPROF_CACHE_DIR, else $XDG_CACHE_HOME/moeprof,
// else ~/.cache/moeprof; with "experts" appended.
std::filesystem::path expertFileCacheDirectory();

// Memory aligned for direct I/O, freed with std::free.
struct AlignedBuffer {
  explicit AlignedBuffer(int64_t bytes);
  AlignedBuffer(AlignedBuffer&& other) noexcept : data(other.data), bytes(other.bytes) {
    other.data = nullptr;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  ~AlignedBuffer();
  std::byte* data = nullptr;
  int64_t bytes = 0;
};

}  // namespace moeprof::workloads
