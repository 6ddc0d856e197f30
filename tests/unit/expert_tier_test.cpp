// The tier interface of Expert Buffering without a GPU: the disk tier's acts, the numbering and
// release of fences by the store (checked by a tier that records them while a real model runs
// buffered), the probe summary, and how --device picks a tier (or refuses).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include <ATen/ATen.h>

#include "kernels/device_query.h"
#include "tests/support/moeprof_command.h"
#include "workloads/buffering/disk_tier.h"
#include "workloads/buffering/expert_store.h"
#include "workloads/model/models.h"
#include "workloads/model/presets.h"

namespace moeprof {
namespace {

using workloads::ExpertFile;
using workloads::TierKind;

std::vector<const kernels::ExpertWeights*> expertsOf(workloads::LmModel& model) {
  std::vector<const kernels::ExpertWeights*> experts;
  for (auto* layer : model.moeLayers()) experts.push_back(&layer->experts);
  return experts;
}

TEST(FenceNumberingTest, EverySlotAndReadAheadBufferHasItsOwnFence) {
  workloads::FenceNumbering fences{3, 4, 2};
  std::set<uint32_t> seen;
  for (uint32_t c = 0; c < 3; ++c) {
    for (uint32_t s = 0; s < 4; ++s) seen.insert(fences.slot(c, s));
  }
  for (uint32_t b = 0; b < 2; ++b) seen.insert(fences.readAhead(b));
  EXPECT_EQ(seen.size(), 14u);
  EXPECT_EQ(fences.count(), 14u);
  EXPECT_LT(*seen.rbegin(), fences.count());
}

TEST(TierPeakTest, TheSummaryIsTheMedianAndSpreadOfTheTrials) {
  auto odd = workloads::summarizePeak({{3e9, 1e9, 2e9}, 4, 8192, true});
  EXPECT_DOUBLE_EQ(odd.medianBytesPerSecond, 2e9);
  EXPECT_DOUBLE_EQ(odd.minBytesPerSecond, 1e9);
  EXPECT_DOUBLE_EQ(odd.maxBytesPerSecond, 3e9);
  EXPECT_EQ(odd.trials, 3);
  EXPECT_EQ(odd.depth, 4u);
  EXPECT_EQ(odd.readBytes, 8192);
  EXPECT_TRUE(odd.random);
  EXPECT_DOUBLE_EQ(
      workloads::summarizePeak({{4e9, 1e9, 2e9, 9e9}, 1, 1, false}).medianBytesPerSecond, 3e9);
  EXPECT_EQ(workloads::summarizePeak({}).medianBytesPerSecond, 0);
}

class DiskTierTest : public testing::TempDirTest {};

TEST_F(DiskTierTest, MovesRecordsIntoAlignedMemoryAndCopiesBetweenSlots) {
  workloads::LmModel model(workloads::findPreset("lm-tiny"), 7, at::kCPU);
  auto experts = expertsOf(model);
  auto file = ExpertFile::openOrCreate(dir_ / "tiny.experts", experts, 1);
  workloads::DiskTier tier(file);
  EXPECT_EQ(tier.kind(), TierKind::Disk);
  EXPECT_EQ(tier.hostBytes(), 0);
  const int64_t record = file.layout().recordBytes;
  workloads::TierMemory slots = tier.allocate(2 * record);
  ASSERT_NE(slots.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(slots.data()) % workloads::kIoAlignment, 0u);
  std::vector<std::byte*> destinations{slots.data() + record, slots.data()};
  std::vector<uint32_t> fences{1, 0};
  EXPECT_FALSE(tier.openLane()->move(1, 6, destinations, fences).timedOnDevice);
  for (uint32_t i = 0; i < 2; ++i) {
    auto view = workloads::tierView(TierKind::Disk, file.layout(), destinations[i]);
    auto expected = experts[1]->expert(6 + i);
    EXPECT_TRUE(at::equal(view.w1, expected.w1) && at::equal(view.b2, expected.b2)) << i;
  }
  tier.copyWithin(slots.data(), slots.data() + record, record, 1);
  EXPECT_TRUE(at::equal(workloads::tierView(TierKind::Disk, file.layout(), slots.data()).w2,
                        experts[1]->expert(6).w2));
}

TEST_F(DiskTierTest, WithoutADeviceThePinnedHostTierFailsWithTheReason) {
  if (!kernels::queryCudaDevices().devices.empty()) {
    GTEST_SKIP() << "a CUDA device is present: tests/gpu exercise the pinned host tier";
  }
  try {
    workloads::PinnedHostTier::create({4096, 2, 8});
    FAIL() << "a pinned host tier was made without a device";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("pinned host tier"), std::string::npos) << e.what();
  }
}

// What the store did with the tier, seen from both sides: when the model was handed a slot (by
// address) and when the store released, moved into and copied within its memory.
struct FenceLedger {
  std::mutex mutex;
  uint64_t clock = 0;
  std::map<const std::byte*, uint64_t> handedOut;  // last time a view of it was handed out
  std::map<uint32_t, uint64_t> released;           // last release of each fence
  std::map<const std::byte*, uint32_t> fenceOf;    // the one fence each destination has
  std::vector<std::string> violations;
  uint64_t movesIntoUsedSlots = 0, copies = 0;

  void note(const std::string& violation) { violations.push_back(violation); }
  // Each destination keeps one fence, and no two destinations share one.
  void checkFence(const std::byte* destination, uint32_t fence) {
    auto [it, inserted] = fenceOf.emplace(destination, fence);
    if (!inserted && it->second != fence) note("a destination changed its fence");
    for (const auto& [other, f] : fenceOf) {
      if (other != destination && f == fence) note("two destinations share a fence");
    }
  }
};

// The disk tier, with every act written into the ledger; a move into memory the model was handed
// must come after a release of that memory's fence (on a GPU the kernels that read it may still
// run until the fence passes).
class LedgerTier final : public workloads::ExpertTier {
 public:
  LedgerTier(const ExpertFile& file, FenceLedger& ledger) : disk_(file), ledger_(ledger) {}
  TierKind kind() const override { return TierKind::Disk; }
  workloads::TierMemory allocate(int64_t bytes) override { return disk_.allocate(bytes); }
  std::unique_ptr<workloads::TierLane> openLane() override {
    return std::make_unique<Lane>(disk_.openLane(), ledger_);
  }
  void setFenceCount(uint32_t count) override { fenceCount_ = count; }
  void release(uint32_t fence) override {
    std::lock_guard lock(ledger_.mutex);
    if (fence >= fenceCount_) ledger_.note("release of an unknown fence");
    ledger_.released[fence] = ++ledger_.clock;
  }
  void copyWithin(std::byte* target, const std::byte* source, int64_t bytes,
                  uint32_t sourceFence) override {
    {
      std::lock_guard lock(ledger_.mutex);
      ledger_.checkFence(source, sourceFence);
      ++ledger_.copies;
    }
    disk_.copyWithin(target, source, bytes, sourceFence);
  }
  int64_t hostBytes() const override { return 0; }
  workloads::TierPeakTrials measurePeak(uint32_t depth, int trials, bool largeTransfers,
                                        int firstTrial) override {
    return disk_.measurePeak(depth, trials, largeTransfers, firstTrial);
  }

 private:
  class Lane final : public workloads::TierLane {
   public:
    Lane(std::unique_ptr<workloads::TierLane> disk, FenceLedger& ledger)
        : disk_(std::move(disk)), ledger_(ledger) {}
    workloads::TierTransfer move(uint32_t layer, uint32_t first,
                                 std::span<std::byte* const> destinations,
                                 std::span<const uint32_t> fences) override {
      {
        std::lock_guard lock(ledger_.mutex);
        if (destinations.size() != fences.size()) ledger_.note("a destination without a fence");
        for (size_t i = 0; i < destinations.size(); ++i) {
          ledger_.checkFence(destinations[i], fences[i]);
          auto used = ledger_.handedOut.find(destinations[i]);
          if (used == ledger_.handedOut.end()) continue;
          ++ledger_.movesIntoUsedSlots;
          auto release = ledger_.released.find(fences[i]);
          if (release == ledger_.released.end() || release->second < used->second) {
            ledger_.note("a move into a slot the model was handed, without a release since");
          }
        }
      }
      return disk_->move(layer, first, destinations, fences);
    }

   private:
    std::unique_ptr<workloads::TierLane> disk_;
    FenceLedger& ledger_;
  };

  workloads::DiskTier disk_;
  FenceLedger& ledger_;
  uint32_t fenceCount_ = 0;
};

// Passes the store's experts on to the model, writing down when each slot was handed out.
class HandOutRecorder final : public workloads::ExpertSource {
 public:
  HandOutRecorder(workloads::ExpertSource& store, FenceLedger& ledger)
      : store_(store), ledger_(ledger) {}
  void beginLayer(int64_t moeLayer, const std::vector<int64_t>& experts,
                  const at::Tensor& input) override {
    store_.beginLayer(moeLayer, experts, input);
  }
  kernels::ExpertView expert(int64_t expert) override {
    kernels::ExpertView view = store_.expert(expert);
    std::lock_guard lock(ledger_.mutex);
    ledger_.handedOut[static_cast<const std::byte*>(view.w1.data_ptr())] = ++ledger_.clock;
    return view;
  }
  void endLayer() override { store_.endLayer(); }

 private:
  workloads::ExpertSource& store_;
  FenceLedger& ledger_;
};

class StoreFenceTest : public testing::TempDirTest {};

TEST_F(StoreFenceTest, EveryMoveIntoAHandedOutSlotFollowsARelease) {
  const auto& preset = workloads::findPreset("lm-tiny");
  workloads::LmModel full(preset, 3, at::kCPU), buffered(preset, 3, at::kCPU);
  at::manual_seed(4);
  std::vector<at::Tensor> inputs, reference;
  workloads::ForwardContext plain;
  for (int64_t length : {2, 8, 3, 5, 8}) {
    inputs.push_back(at::randint(4, preset.vocab, {1, length}, at::dtype(at::kLong)));
    reference.push_back(full.forward(inputs.back(), plain));
  }
  workloads::StoreModel storeModel;
  for (auto* layer : buffered.moeLayers()) storeModel.routers.push_back(layer->router);
  storeModel.nextMoeLayer = {1, 0};
  storeModel.topK = preset.topK;
  buffered.dropExperts();
  auto path = dir_ / "tiny.experts";
  // LIFO with two slots chains misses through read-ahead buffers; pre-gating moves into slots of
  // the other layer while this one computes.
  for (auto prefetch : {workloads::PrefetchMode::Off, workloads::PrefetchMode::Pregate}) {
    SCOPED_TRACE(workloads::prefetchModeName(prefetch));
    FenceLedger ledger;
    workloads::BufferingConfig config{"lifo", 2, analysis::CacheScope::Layer, prefetch, 4};
    workloads::ExpertStore store(
        config, ExpertFile::openOrCreate(path, expertsOf(full), 3), storeModel, {},
        [&](const ExpertFile& file) { return std::make_unique<LedgerTier>(file, ledger); });
    HandOutRecorder recorder(store, ledger);
    workloads::ForwardContext context;
    context.experts = &recorder;
    for (size_t b = 0; b < inputs.size(); ++b) {
      store.setBatch(static_cast<int64_t>(b));
      EXPECT_TRUE(at::equal(buffered.forward(inputs[b], context), reference[b])) << b;
    }
    auto metrics = store.metricsJson();
    std::lock_guard lock(ledger.mutex);
    EXPECT_TRUE(ledger.violations.empty()) << ledger.violations.front();
    EXPECT_GT(ledger.movesIntoUsedSlots, 0u) << "no slot was refilled: nothing was checked";
    EXPECT_GT(metrics["read_ahead_loads"].get<uint64_t>(), 0u);
    EXPECT_EQ(ledger.copies, metrics["read_ahead_loads"].get<uint64_t>());
    EXPECT_EQ(metrics["slow_tier"]["tier"], "disk");
  }
}

class TierSelectionTest : public testing::TempDirTest {};

TEST_F(TierSelectionTest, ACpuBufferedRunSaysItsTierIsTheDisk) {
  setenv("MOEPROF_CACHE_DIR", path("cache").c_str(), 1);
  auto result = testing::runMoeprof(
      "run --preset lm-tiny --gating dynamic --repeats 1 --buffering lifo --out " + path("run"));
  unsetenv("MOEPROF_CACHE_DIR");
  ASSERT_EQ(result.exitCode, 0) << result.output;
  std::ifstream in(dir_ / "run" / "run.json");
  auto json = nlohmann::json::parse(in);
  EXPECT_EQ(json["config"]["buffering"]["tier"], "disk");
  EXPECT_EQ(json["metrics"]["buffering"]["slow_tier"]["tier"], "disk");
}

TEST_F(TierSelectionTest, CudaBufferingWithoutACudaLibTorchExits2AndWritesNothing) {
  if (at::hasCUDA()) GTEST_SKIP() << "LibTorch can use CUDA here: tests/gpu run --device cuda";
  auto result = testing::runMoeprof(
      "run --preset lm-tiny --gating dynamic --device cuda --buffering lifo --out " + path("run"));
  EXPECT_EQ(result.exitCode, 2) << result.output;
#ifdef MOEPROF_HAVE_CUDA
  // The GPU tier exists in this build: the device itself is what is missing.
  EXPECT_NE(result.output.find("this LibTorch build cannot use CUDA"), std::string::npos)
      << result.output;
#else
  EXPECT_NE(result.output.find("built without the CUDA toolkit"), std::string::npos)
      << result.output;
#endif
  EXPECT_NE(result.output.find("allowed here: cpu"), std::string::npos) << result.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "run"));
}

}  // namespace
}  // namespace moeprof
