// Expert Buffering, live: the expert file (slow tier), and the store in front of it running real
// models. Buffered outputs must equal unbuffered ones bit for bit, and without prefetching the
// store must make exactly the decisions the replay of the same accesses makes.
#include <gtest/gtest.h>

#include <fstream>

#include <ATen/ATen.h>

#include "analysis/cache_simulation.h"
#include "tests/support/moeprof_command.h"
#include "workloads/buffering/expert_store.h"
#include "workloads/buffering/expert_store_state.h"
#include "workloads/model/models.h"
#include "workloads/model/presets.h"

namespace moeprof {
namespace {

using workloads::BufferingConfig;
using workloads::ExpertFile;
using workloads::ExpertStore;
using workloads::LayerCall;
using workloads::PrefetchMode;

std::vector<const kernels::ExpertWeights*> expertsOf(workloads::LmModel& model) {
  std::vector<const kernels::ExpertWeights*> experts;
  for (auto* layer : model.moeLayers()) experts.push_back(&layer->experts);
  return experts;
}

class ExpertFileTest : public testing::TempDirTest {};

TEST_F(ExpertFileTest, RecordsReadBackExactlyAndTheFileIsReusedOnlyForTheSameWeights) {
  workloads::LmModel model(workloads::findPreset("lm-tiny"), 7, at::kCPU);
  auto experts = expertsOf(model);
  auto path = dir_ / "tiny.experts";
  {
    auto file = ExpertFile::openOrCreate(path, experts, 42);
    EXPECT_FALSE(file.reused());
    workloads::AlignedBuffer slot(file.layout().recordBytes);
    for (uint32_t layer = 0; layer < experts.size(); ++layer) {
      for (uint32_t e : {0u, 5u, 7u}) {
        file.read(layer, e, slot.data);
        auto view = file.layout().view(slot.data);
        auto expected = experts[layer]->expert(e);
        EXPECT_TRUE(at::equal(view.w1, expected.w1) && at::equal(view.b1, expected.b1) &&
                    at::equal(view.w2, expected.w2) && at::equal(view.b2, expected.b2))
            << "layer " << layer << " expert " << e;
      }
    }
    EXPECT_THROW(file.read(0, 8, slot.data), std::out_of_range);
  }
  EXPECT_TRUE(ExpertFile::openOrCreate(path, experts, 42).reused());
  EXPECT_FALSE(ExpertFile::openOrCreate(path, experts, 43).reused());  // another fingerprint
  workloads::LmModel other(workloads::findPreset("lm-tiny"), 8, at::kCPU);
  EXPECT_FALSE(ExpertFile::openOrCreate(path, expertsOf(other), 43).reused());  // other weights
}

TEST_F(ExpertFileTest, AdjacentRecordsReadWithOneRequestLandInTheirOwnSlots) {
  workloads::LmModel model(workloads::findPreset("lm-tiny"), 7, at::kCPU);
  auto experts = expertsOf(model);
  auto file = ExpertFile::openOrCreate(dir_ / "tiny.experts", experts, 42);
  const int64_t record = file.layout().recordBytes;
  // Slots in reverse order in memory, so a read that ignored the destinations would show.
  workloads::AlignedBuffer slots(3 * record);
  std::vector<std::byte*> destinations{slots.data + 2 * record, slots.data, slots.data + record};
  file.readAdjacent(1, 4, destinations);
  for (uint32_t i = 0; i < 3; ++i) {
    auto view = file.layout().view(destinations[i]);
    auto expected = experts[1]->expert(4 + i);
    EXPECT_TRUE(at::equal(view.w1, expected.w1) && at::equal(view.b2, expected.b2)) << i;
  }
  EXPECT_THROW(file.readAdjacent(1, 6, destinations), std::out_of_range);  // 6, 7 and 8
}

TEST_F(ExpertFileTest, TheBandwidthProbeReportsItsTrialsSpread) {
  workloads::LmModel model(workloads::findPreset("lm-tiny"), 7, at::kCPU);
  auto file = ExpertFile::openOrCreate(dir_ / "tiny.experts", expertsOf(model), 42);
  for (auto pattern :
       {workloads::ProbePattern::RandomRecords, workloads::ProbePattern::LargeSequential}) {
    auto peak = file.measureBandwidth(int64_t{1} << 20, 3, 5, pattern);
    EXPECT_EQ(peak.trials, 5);
    EXPECT_EQ(peak.depth, 3u);
    EXPECT_GT(peak.minBytesPerSecond, 0);
    EXPECT_LE(peak.minBytesPerSecond, peak.medianBytesPerSecond);
    EXPECT_LE(peak.medianBytesPerSecond, peak.maxBytesPerSecond);
    // Random reads are one expert record each (what a miss reads); sequential ones as large as
    // the tiny file allows (all of its records at once).
    const bool random = pattern == workloads::ProbePattern::RandomRecords;
    EXPECT_EQ(peak.random, random);
    EXPECT_EQ(peak.readBytes,
              random ? file.layout().recordBytes : int64_t{2} * 8 * file.layout().recordBytes);
  }
}

TEST(TierBandwidthTest, PoolingTrialsGivesTheMedianAndRangeOfThemAll) {
  workloads::TierBandwidth pooled, later;
  for (double rate : {4.0, 1.0}) pooled.addTrial(rate);
  later.depth = 3;
  for (double rate : {9.0, 2.0, 3.0}) later.addTrial(rate);
  pooled.add(later);
  EXPECT_EQ(pooled.trials, 5);
  EXPECT_EQ(pooled.medianBytesPerSecond, 3.0);  // of 1, 2, 3, 4, 9
  EXPECT_EQ(pooled.minBytesPerSecond, 1.0);
  EXPECT_EQ(pooled.maxBytesPerSecond, 9.0);
  EXPECT_EQ(pooled.trialBytesPerSecond, (std::vector<double>{4, 1, 9, 2, 3}));
  EXPECT_EQ(pooled.depth, 1u);  // the first probe's description stays
}

TEST(PeakSamplesTest, EachBatchIsJudgedAgainstTheSamplesAroundIt) {
  workloads::store_detail::PeakSamples samples;
  samples.bytesPerSecond = {1e9, 3e9, 2e9};
  // 1 GB in 1 s around a 2 GB/s mean peak, 1 GB in 0.5 s around 2.5 GB/s: 2 GB of 3.25 GB.
  samples.batches = {{1'000'000'000, 1'000'000'000}, {1'000'000'000, 500'000'000}};
  EXPECT_EQ(samples.pairedEfficiency(), 0.0);  // not finished: the last batch has no sample after
  samples.finished = true;
  EXPECT_NEAR(samples.pairedEfficiency(), 2.0 / 3.25, 1e-12);
  EXPECT_DOUBLE_EQ(samples.spread(), 3.0);
  EXPECT_EQ(workloads::store_detail::PeakSamples{}.spread(), 0.0);
}

TEST(PeakSamplesTest, TheOfferedDepthsAreJudgedAgainstTheTierAtThoseDepths) {
  std::vector<workloads::TierBandwidth> byDepth(3);
  const std::pair<uint32_t, double> probes[] = {{1, 1e9}, {2, 1.5e9}, {4, 2.5e9}};
  for (size_t i = 0; i < byDepth.size(); ++i) {
    byDepth[i].depth = probes[i].first;
    byDepth[i].addTrial(probes[i].second);
  }
  workloads::store_detail::ReadStats stats;
  stats.nsByReadsInFlight = {0, 1'000'000'000, 1'000'000'000, 2'000'000'000, 1'000'000'000};
  // 1 s at 1 GB/s, 1 s at 1.5, 2 s at depth 3 (2.0, halfway from 2 to 4), 1 s at 2.5.
  EXPECT_NEAR(workloads::store_detail::bytesAtOfferedDepth(stats, byDepth), 9e9, 1);
  stats.nsByReadsInFlight.push_back(1'000'000'000);  // depth 5: beyond the deepest probe
  EXPECT_NEAR(workloads::store_detail::bytesAtOfferedDepth(stats, byDepth), 11.5e9, 1);
}

TEST_F(ExpertFileTest, ATruncatedFileFailsToReadWithAClearError) {
  workloads::LmModel model(workloads::findPreset("lm-tiny"), 7, at::kCPU);
  auto experts = expertsOf(model);
  auto path = dir_ / "tiny.experts";
  auto file = ExpertFile::openOrCreate(path, experts, 1);
  std::filesystem::resize_file(path, workloads::kIoAlignment + file.layout().recordBytes);
  workloads::AlignedBuffer slot(file.layout().recordBytes);
  file.read(0, 0, slot.data);
  try {
    file.read(1, 7, slot.data);
    FAIL() << "read past the end";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

// lm-tiny with every expert resident (the reference) and the same model with its experts dropped
// (the buffered one), some batches, the reference outputs and the calls a recording pass saw.
class BufferedModelTest : public testing::TempDirTest {
 protected:
  static constexpr int kBatches = 4;
  static constexpr uint64_t kSeed = 3;

  void SetUp() override {
    TempDirTest::SetUp();
    const auto& config = workloads::findPreset("lm-tiny");
    full_.emplace(config, kSeed, at::kCPU);
    buffered_.emplace(config, kSeed, at::kCPU);
    at::manual_seed(11);
    for (int64_t length : {2, 8, 3, 5}) {  // few tokens use few experts, many use all
      inputs_.push_back(
          at::randint(4, config.vocab, {1, length}, at::TensorOptions().dtype(at::kLong)));
    }
    workloads::LayerCallRecorder recorder(expertsOf(*full_));
    for (const auto& input : inputs_) reference_.push_back(forward(*full_, input, &recorder));
    calls_ = recorder.takeCalls();
    for (auto* layer : buffered_->moeLayers()) storeModel_.routers.push_back(layer->router);
    storeModel_.nextMoeLayer = {1, 0};
    storeModel_.topK = config.topK;
    buffered_->dropExperts();
  }

  static at::Tensor forward(const workloads::LmModel& model, const at::Tensor& input,
                            workloads::ExpertSource* experts) {
    workloads::ForwardContext context;
    context.experts = experts;
    return model.forward(input, context);
  }

  ExpertFile openFile() {
    return ExpertFile::openOrCreate(dir_ / "lm-tiny.experts", expertsOf(*full_), kSeed);
  }

  // Runs every batch through a store, checks each output against the reference bit for bit,
  // and returns the store's metrics.
  nlohmann::json runBuffered(const BufferingConfig& config) {
    ExpertStore store(config, openFile(), storeModel_, calls_);
    for (int b = 0; b < kBatches; ++b) {
      store.setBatch(b);
      EXPECT_TRUE(at::equal(forward(*buffered_, inputs_[b], &store), reference_[b]))
          << config.policy << " " << analysis::cacheScopeName(config.scope) << " prefetch "
          << workloads::prefetchModeName(config.prefetch) << " batch " << b;
    }
    return store.metricsJson();
  }

  // What replaying the recorded calls through the same caches gives (no prefetching).
  analysis::CacheCounts replay(const BufferingConfig& config) {
    const uint32_t experts = static_cast<uint32_t>(full_->config().numExperts);
    const bool perLayer = config.scope == analysis::CacheScope::Layer;
    std::vector<analysis::AccessTrace> traces(perLayer ? 2 : 1);
    for (const auto& call : calls_) {
      auto& trace = traces[perLayer ? call.moeLayer : 0];
      for (uint32_t e : call.experts) {
        trace.keys.push_back(perLayer ? e : analysis::expertKey(call.moeLayer, e, experts));
      }
      trace.batchStarts.push_back(trace.keys.size());
    }
    analysis::CacheCounts total;
    for (const auto& trace : traces) {
      auto counts =
          analysis::replayTrace(trace, config.policy, config.slotsPerLayer * (perLayer ? 1 : 2));
      total.accesses += counts.accesses;
      total.misses += counts.misses;
      total.evictions += counts.evictions;
    }
    return total;
  }

  std::optional<workloads::LmModel> full_, buffered_;
  std::vector<at::Tensor> inputs_, reference_;
  std::vector<LayerCall> calls_;
  workloads::StoreModel storeModel_;
};

TEST_F(BufferedModelTest, WithoutPrefetchEveryPolicyGivesIdenticalOutputsAndTheReplaysDecisions) {
  for (uint32_t readAhead : {0u, 1u, 8u})
    for (auto scope : {analysis::CacheScope::Layer, analysis::CacheScope::Global}) {
      for (std::string_view policy : analysis::kPolicyNames) {
        BufferingConfig config{std::string(policy), 3, scope, PrefetchMode::Off};
        config.readAheadBuffers = readAhead;
        auto metrics = runBuffered(config);
        auto expected = replay(config);
        SCOPED_TRACE(std::string(policy) + " " + analysis::cacheScopeName(scope) + " read-ahead " +
                     std::to_string(readAhead));
        if (readAhead == 0) {
          EXPECT_EQ(metrics["read_ahead_loads"].get<uint64_t>(), 0u);
        }
        EXPECT_LE(metrics["read_ahead_loads"].get<uint64_t>(), expected.misses);
        // The tier's busy time split by reads in flight covers all of it, at most io-depth deep.
        const auto& shares = metrics["transfer_share_by_reads_in_flight"];
        EXPECT_LE(shares.size(), config.ioDepth);
        double total = 0;
        for (const auto& share : shares) total += share.get<double>();
        EXPECT_NEAR(total, 1.0, 1e-9);
        EXPECT_GE(metrics["mean_reads_in_flight"].get<double>(), 1.0);
        // The peak was sampled before, between and after the measured batches.
        EXPECT_EQ(metrics["tier_peak_samples_gbps"].size(), size_t{kBatches + 1});
        EXPECT_EQ(metrics["tier_peak_probe"]["trials"].get<int>(), 2 * (kBatches + 1));
        EXPECT_GT(metrics["bandwidth_efficiency"].get<double>(), 0.0);
        EXPECT_GE(metrics["tier_peak_spread"].get<double>(), 1.0);
        EXPECT_EQ(metrics["tier_peak_by_depth_gbps"].size(), 3u);  // depths 1, 2 and io-depth 4
        EXPECT_GT(metrics["bandwidth_efficiency_at_offered_depth"].get<double>(), 0.0);
        EXPECT_GE(metrics["reads"].get<uint64_t>(), 1u);
        EXPECT_EQ(metrics["accesses"].get<uint64_t>(), expected.accesses);
        EXPECT_EQ(metrics["misses"].get<uint64_t>(), expected.misses);
        EXPECT_EQ(metrics["evictions"].get<uint64_t>(), expected.evictions);
        EXPECT_EQ(metrics["demand_loads"].get<uint64_t>(), expected.misses);
        EXPECT_EQ(metrics["bytes_moved"].get<int64_t>(),
                  static_cast<int64_t>(expected.misses) * openFile().layout().recordBytes);
        EXPECT_GT(expected.misses, 0u);
      }
    }
}

TEST_F(BufferedModelTest, PrefetchingKeepsOutputsIdenticalAndTheOracleIsNeverWrong) {
  for (auto scope : {analysis::CacheScope::Layer, analysis::CacheScope::Global}) {
    for (auto prefetch : {PrefetchMode::Pregate, PrefetchMode::Oracle, PrefetchMode::All}) {
      // One read at a time, and many in flight (where slots are refilled while read).
      for (uint32_t depth : {1u, 8u}) {
        BufferingConfig config{"lru", 4, scope, prefetch, depth};
        auto metrics = runBuffered(config);
        SCOPED_TRACE(std::string(workloads::prefetchModeName(prefetch)) + " " +
                     analysis::cacheScopeName(scope) + " depth " + std::to_string(depth));
        EXPECT_EQ(metrics["io_depth"].get<uint32_t>(), depth);
        EXPECT_GT(metrics["prefetch_loads"].get<uint64_t>(), 0u);
        if (prefetch == PrefetchMode::Oracle) {
          EXPECT_DOUBLE_EQ(metrics["prefetch_precision"].get<double>(), 1.0);
          EXPECT_EQ(metrics["wasted_prefetches"].get<uint64_t>(), 0u);
        }
      }
    }
  }
  // On-demand fetching misses more than fetching exactly what comes next.
  auto onDemand = runBuffered({"lru", 4, analysis::CacheScope::Layer, PrefetchMode::Off});
  auto oracle = runBuffered({"lru", 4, analysis::CacheScope::Layer, PrefetchMode::Oracle});
  EXPECT_LT(oracle["misses"].get<uint64_t>(), onDemand["misses"].get<uint64_t>());
}

TEST_F(BufferedModelTest, ARunThatRoutesDifferentlyFromItsRecordingIsRefused) {
  BufferingConfig config{"belady", 3, analysis::CacheScope::Layer, PrefetchMode::Off};
  ExpertStore store(config, openFile(), storeModel_, calls_);
  store.setBatch(0);
  auto other = at::randint(4, 97, {1, 2}, at::TensorOptions().dtype(at::kLong));
  ASSERT_FALSE(at::equal(other, inputs_[0]));
  try {
    forward(*buffered_, other, &store);
    FAIL() << "a different batch was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("recording pass"), std::string::npos) << e.what();
  }
}

// LIFO refills the slot it filled last once every cached expert is active, so a call that needs
// more experts than there are slots chains its misses through one slot: only read-ahead buffers
// let those reads start before the expert holding the slot has run.
TEST_F(BufferedModelTest, ReadAheadServesTheMissesThatWaitForTheirSlot) {
  BufferingConfig config{"lifo", 2, analysis::CacheScope::Layer, PrefetchMode::Off};
  auto metrics = runBuffered(config);
  EXPECT_GT(metrics["read_ahead_loads"].get<uint64_t>(), 0u);
  EXPECT_EQ(metrics["read_ahead_buffers"].get<uint32_t>(), config.readAheadBuffers);
  config.readAheadBuffers = 0;
  EXPECT_EQ(runBuffered(config)["read_ahead_loads"].get<uint64_t>(), 0u);
}

TEST_F(BufferedModelTest, BuffersHoldLessThanAllExperts) {
  BufferingConfig config{"lifo", 3, analysis::CacheScope::Layer, PrefetchMode::Off};
  config.readAheadBuffers = 2;
  ExpertStore store(config, openFile(), storeModel_, calls_);
  const auto layout = openFile().layout();  // a copy: the file closes at the end of the line
  // 2 layers x 3 slots, and the read-ahead buffers (experts on their way in).
  EXPECT_EQ(store.residentExpertBytes(), (2 * 3 + 2) * layout.expertBytes);
  EXPECT_EQ(store.readAheadBytes(), 2 * layout.expertBytes);
  EXPECT_LT(buffered_->weightBytes(), full_->weightBytes());
  EXPECT_EQ(full_->weightBytes() - buffered_->weightBytes(),
            2 * full_->config().numExperts * layout.expertBytes);
}

}  // namespace
}  // namespace moeprof
