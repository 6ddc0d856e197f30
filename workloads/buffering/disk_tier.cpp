#include "workloads/buffering/disk_tier.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace moeprof::workloads {

namespace {

void freeAligned(std::byte* data) {
  std::free(data);
}

class DiskLane final : public TierLane {
 public:
  explicit DiskLane(const ExpertFile& file) : file_(file) {}
  TierTransfer move(uint32_t layer, uint32_t first, std::span<std::byte* const> destinations,
                    std::span<const uint32_t>) override {
    file_.readAdjacent(layer, first, destinations);
    return {};
  }

 private:
  const ExpertFile& file_;
};

// Reads every record of `file` into the pinned copy, a layer's records at a time (in chunks: one
// preadv takes at most IOV_MAX buffers).
void fillFromFile(PinnedHostTier& tier, const ExpertFile& file) {
  constexpr uint32_t kRecordsPerRead = 64;
  const int64_t recordBytes = file.layout().recordBytes;
  std::vector<std::byte*> destinations;
  for (uint32_t layer = 0; layer < file.numLayers(); ++layer) {
    for (uint32_t first = 0; first < file.numExperts(); first += kRecordsPerRead) {
      destinations.clear();
      for (uint32_t e = first; e < std::min(file.numExperts(), first + kRecordsPerRead); ++e) {
        destinations.push_back(tier.hostRecords() +
                               (int64_t{layer} * file.numExperts() + e) * recordBytes);
      }
      file.readAdjacent(layer, first, destinations);
    }
  }
}

}  // namespace

const char* tierKindName(TierKind kind) {
  return kind == TierKind::Disk ? "disk" : "pinned_host";
}

TierMemory DiskTier::allocate(int64_t bytes) {
  if (bytes == 0) return {};
  AlignedBuffer buffer(bytes);  // TierMemory takes its memory over (freed with std::free)
  const int64_t rounded = buffer.bytes;
  return TierMemory(std::exchange(buffer.data, nullptr), rounded, freeAligned);
}

std::unique_ptr<TierLane> DiskTier::openLane() {
  return std::make_unique<DiskLane>(file_);
}

void DiskTier::copyWithin(std::byte* target, const std::byte* source, int64_t bytes, uint32_t) {
  std::memcpy(target, source, static_cast<size_t>(bytes));
}

std::unique_ptr<ExpertTier> makeExpertTier(TierKind kind, const ExpertFile& file) {
  if (kind == TierKind::Disk) return std::make_unique<DiskTier>(file);
  auto tier = PinnedHostTier::create(
      {file.layout().recordBytes, file.numLayers(), file.numExperts()}, /*device=*/0);
  fillFromFile(*tier, file);
  return tier;
}

kernels::ExpertView tierView(TierKind kind, const ExpertRecordLayout& layout, std::byte* base) {
  if (kind == TierKind::Disk) return layout.view(base);
  auto options = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, 0);
  return {at::from_blob(base + layout.w1Offset, {layout.dModel, layout.ffn}, options),
          at::from_blob(base + layout.b1Offset, {layout.ffn}, options),
          at::from_blob(base + layout.w2Offset, {layout.ffn, layout.dModel}, options),
          at::from_blob(base + layout.b2Offset, {layout.dModel}, options)};
}

TierPeakTrials DiskTier::measurePeak(uint32_t depth, int trials, bool largeTransfers,
                                     int firstTrial) {
  constexpr int64_t kBytesPerTrial = int64_t{32} << 20;
  TierBandwidth probe = file_.measureBandwidth(
      kBytesPerTrial, depth, trials,
      largeTransfers ? ProbePattern::LargeSequential : ProbePattern::RandomRecords, firstTrial);
  return {probe.trialBytesPerSecond, probe.depth, probe.readBytes, probe.random};
}

TierBandwidth summarizePeak(const TierPeakTrials& trials) {
  TierBandwidth out;
  out.depth = trials.depth;
  out.readBytes = trials.transferBytes;
  out.random = trials.random;
  for (double rate : trials.bytesPerSecond) out.addTrial(rate);
  return out;
}

}  // namespace moeprof::workloads
