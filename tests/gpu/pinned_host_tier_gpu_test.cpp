// The GPU tier of Expert Buffering on a real device, through the CUDA runtime alone (no LibTorch):
// records go from the pinned copy into device slots bit for bit, a copy into a slot that a
// kernel still reads waits for that kernel once the slot is released (and overlaps it when
// nothing holds it back), and the peak probe measures something. Without a CUDA device each
// test skips, saying why.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "tests/gpu/cuda_device.h"
#include "tests/gpu/trivial_kernels.h"
#include "workloads/buffering/pinned_host_tier.h"

namespace moeprof::workloads {
namespace {

constexpr int64_t kRecordBytes = 3 * 4096;
constexpr uint32_t kLayers = 2, kExperts = 5;

class PinnedHostTierGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = moeprof::testing::noCudaDeviceReason(); !reason.empty())
      GTEST_SKIP() << reason;
    tier_ = PinnedHostTier::create({kRecordBytes, kLayers, kExperts});
    // Every record different: a copy of the wrong record, or of part of one, shows.
    std::mt19937 random(5);
    auto* bytes = reinterpret_cast<unsigned char*>(tier_->hostRecords());
    for (int64_t i = 0; i < tier_->shape().bytes(); ++i)
      bytes[i] = static_cast<unsigned char>(random());
  }

  const std::byte* hostRecord(uint32_t layer, uint32_t expert) const {
    return tier_->hostRecords() + (int64_t{layer} * kExperts + expert) * kRecordBytes;
  }
  std::vector<std::byte> deviceBytes(const std::byte* device, int64_t bytes) const {
    std::vector<std::byte> out(static_cast<size_t>(bytes));
    EXPECT_EQ(cudaMemcpy(out.data(), device, out.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }
  bool deviceHolds(const std::byte* device, const std::byte* expected) const {
    auto bytes = deviceBytes(device, kRecordBytes);
    return std::memcmp(bytes.data(), expected, bytes.size()) == 0;
  }

  std::unique_ptr<PinnedHostTier> tier_;
};

TEST_F(PinnedHostTierGpuTest, RecordsLandInTheirDeviceSlotsBitForBit) {
  TierMemory slots = tier_->allocate(3 * kRecordBytes);
  tier_->setFenceCount(3);
  auto lane = tier_->openLane();
  // Slots in an order unlike the records', so that a copy to the wrong destination shows.
  std::byte* base = slots.data();
  std::vector<std::byte*> destinations{base + 2 * kRecordBytes, base, base + kRecordBytes};
  std::vector<uint32_t> fences{2, 0, 1};
  TierTransfer moved = lane->move(1, 2, destinations, fences);
  EXPECT_TRUE(moved.timedOnDevice);
  EXPECT_GT(moved.durationNs, 0);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(deviceHolds(destinations[i], hostRecord(1, 2 + i))) << "record " << 2 + i;
  }
  // A device-to-device copy (read-ahead buffer -> slot) on the compute stream.
  tier_->copyWithin(base, base + kRecordBytes, kRecordBytes, /*sourceFence=*/1);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_TRUE(deviceHolds(base, hostRecord(1, 4)));
  EXPECT_THROW(lane->move(kLayers, 0, std::span(destinations).first(1), std::span(fences).first(1)),
               std::out_of_range);
  EXPECT_EQ(tier_->hostBytes(), int64_t{kLayers} * kExperts * kRecordBytes);
}

// A kernel on the compute stream that spins, then reads slot 0 into `out`; meanwhile the host
// moves another record into slot 0. Returns whether the compute stream was still busy when the
// move returned.
class FenceGpuTest : public PinnedHostTierGpuTest {
 protected:
  static constexpr unsigned long long kSpinNs = 300'000'000;

  bool kernelStillRunningAfterMove(bool release) {
    slots_ = tier_->allocate(kRecordBytes);
    out_ = tier_->allocate(kRecordBytes);
    tier_->setFenceCount(2);
    auto lane = tier_->openLane();
    std::byte* slot = slots_.data();
    lane->move(0, 1, std::span(&slot, 1), std::vector<uint32_t>{0});
    EXPECT_EQ(testing::launchSpinThenCopy(slot, out_.data(), kRecordBytes, kSpinNs), 0);
    if (release) tier_->release(0);  // what the store does before it issues a load into the slot
    // Fence 1 is never recorded: waiting on it holds nothing back.
    lane->move(1, 3, std::span(&slot, 1), std::vector<uint32_t>{release ? 0u : 1u});
    const bool running = cudaStreamQuery(cudaStreamLegacy) == cudaErrorNotReady;
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_TRUE(deviceHolds(slot, hostRecord(1, 3)));
    return running;
  }

  TierMemory slots_, out_;
};

TEST_F(FenceGpuTest, AReleasedSlotIsOverwrittenOnlyAfterTheKernelThatReadsIt) {
  EXPECT_FALSE(kernelStillRunningAfterMove(/*release=*/true))
      << "the copy landed while the kernel reading the slot still ran";
  EXPECT_TRUE(deviceHolds(out_.data(), hostRecord(0, 1))) << "the kernel read the new expert";
}

TEST_F(FenceGpuTest, WithoutAFenceTheCopyStreamOverlapsTheComputeStream) {
  // The copy stream is non-blocking: a blocking one would wait for the spinning kernel.
  EXPECT_TRUE(kernelStillRunningAfterMove(/*release=*/false))
      << "the copy waited for the compute stream although nothing held it back";
  EXPECT_TRUE(deviceHolds(out_.data(), hostRecord(1, 3))) << "the kernel read before the copy";
}

TEST_F(PinnedHostTierGpuTest, ThePeakProbeMeasuresRecordsAndLargeCopies) {
  for (bool large : {false, true}) {
    TierPeakTrials peak = tier_->measurePeak(/*depth=*/3, /*trials=*/4, large, /*firstTrial=*/0);
    SCOPED_TRACE(large ? "large copies" : "records");
    EXPECT_EQ(peak.depth, 3u);
    EXPECT_EQ(peak.random, !large);
    ASSERT_EQ(peak.bytesPerSecond.size(), 4u);
    for (double rate : peak.bytesPerSecond) EXPECT_GT(rate, 0);
    // One record per copy, or as much of the (small) copy as fits in whole records.
    EXPECT_EQ(peak.transferBytes, large ? tier_->shape().bytes() : kRecordBytes);
  }
}

}  // namespace
}  // namespace moeprof::workloads
