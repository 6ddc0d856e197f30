#pragma once
// The CPU tier of Expert Buffering (disk -> RAM slots) as an ExpertTier, and what the store needs
// to run on either tier: the tier for a run's device, views of a slot, a probe's summary.
#include <memory>

#include "kernels/expert_ffn.h"
#include "workloads/buffering/expert_file.h"
#include "workloads/buffering/expert_tier.h"
#include "workloads/buffering/pinned_host_tier.h"

namespace moeprof::workloads {

// Expert records read from an ExpertFile (direct I/O) into host memory aligned for it. CPU
// experts run synchronously, so by the time the store lets go of a slot nothing reads it any
// more: fences are no-ops, and copies are plain memcpy.
class DiskTier final : public ExpertTier {
 public:
  explicit DiskTier(const ExpertFile& file) : file_(file) {}
  TierKind kind() const override { return TierKind::Disk; }
  TierMemory allocate(int64_t bytes) override;
  std::unique_ptr<TierLane> openLane() override;
  void setFenceCount(uint32_t) override {}
  void release(uint32_t) override {}
  void copyWithin(std::byte* target, const std::byte* source, int64_t bytes,
                  uint32_t sourceFence) override;
  int64_t hostBytes() const override { return 0; }
  // ExpertFile's probe, pages dropped, 32 MiB a trial.
  TierPeakTrials measurePeak(uint32_t depth, int trials, bool largeTransfers,
                             int firstTrial) override;

 private:
  const ExpertFile& file_;
};

// The tier of `kind` over `file`: the disk tier reads it; the pinned host tier is filled from it
// once, here (on CUDA device 0, the device runs use).
std::unique_ptr<ExpertTier> makeExpertTier(TierKind kind, const ExpertFile& file);

// Views of the record at `base` in `tier`'s fast memory: CPU tensors, or CUDA tensors on device 0
// for the pinned host tier (made with at::from_blob, which needs no CUDA headers).
kernels::ExpertView tierView(TierKind kind, const ExpertRecordLayout& layout, std::byte* base);

// A probe's trials as the metrics report them (median, spread).
TierBandwidth summarizePeak(const TierPeakTrials& trials);

}  // namespace moeprof::workloads
