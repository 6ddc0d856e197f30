// Routing statistics on hand-made logs with hand-computed answers, load similarity, and the
// synthetic Zipf routing generator.
#include "analysis/routing_statistics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "analysis/characterization.h"
#include "analysis/zipf_routing.h"
#include "tests/support/input_error.h"

namespace moeprof::analysis {
namespace {

using collector::LayerStack;
using collector::RoutingLog;
using collector::RoutingRecord;

RoutingRecord record(uint32_t batch, uint32_t layer, uint32_t step, std::vector<uint16_t> experts,
                     uint32_t topK = 1) {
  RoutingRecord r;
  r.batch = batch;
  r.moeLayer = layer;
  r.step = step;
  r.numTokens = static_cast<uint32_t>(experts.size() / topK);
  r.gateWeights.assign(experts.size(), 1.0f);
  r.experts = std::move(experts);
  return r;
}

RoutingLog logOf(std::vector<collector::MoeLayerInfo> layers, uint32_t experts, uint32_t topK,
                 std::vector<RoutingRecord> records) {
  RoutingLog log;
  log.header = {"hand", experts, topK, std::move(layers)};
  log.records = std::move(records);
  return log;
}

// One LM layer, 4 experts, top-1. Passes: {0,0,1}, {0,2}, {3,3,3}; totals {3,1,1,3}.
RoutingLog handLmLog() {
  return logOf({{LayerStack::Lm, 1}}, 4, 1,
               {record(0, 0, 0, {0, 0, 1}), record(1, 0, 0, {0, 2}), record(2, 0, 0, {3, 3, 3})});
}

TEST(RoutingStatisticsTest, GiniAndTopShareMatchHandComputedValues) {
  EXPECT_DOUBLE_EQ(giniCoefficient({1, 1, 1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(giniCoefficient({0, 0, 0, 4}), 0.75);  // (n-1)/n
  EXPECT_DOUBLE_EQ(giniCoefficient({4, 3, 2, 1}), 0.25);  // 2*30/(4*10) - 5/4
  EXPECT_DOUBLE_EQ(giniCoefficient({0, 0}), 0.0);
  std::vector<double> twenty(20, 1.0);
  twenty[3] = 10;
  twenty[7] = 5;
  EXPECT_DOUBLE_EQ(topShare(twenty, 0.1), 15.0 / 33.0);  // the 2 hottest of 20
  EXPECT_DOUBLE_EQ(topShare({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.1), 10.0 / 55.0);  // exactly 1
  EXPECT_DOUBLE_EQ(topShare({1, 1, 1, 1}, 0.1), 0.25);  // ceil(0.4) = 1 expert
}

TEST(RoutingStatisticsTest, SkewIdlenessAndLocalityOfAHandMadeLog) {
  RoutingStatistics stats = routingStatistics(handLmLog());
  ASSERT_EQ(stats.layers.size(), 1u);
  const LayerStatistics& layer = stats.layers[0];
  EXPECT_EQ(layer.passes, 3u);
  EXPECT_EQ(layer.assignments, 8u);
  EXPECT_DOUBLE_EQ(layer.gini, 0.25);  // sorted {1,1,3,3}: 2*24/(4*8) - 5/4
  EXPECT_DOUBLE_EQ(layer.top10Share, 3.0 / 8.0);
  EXPECT_DOUBLE_EQ(layer.hottestToUniform, 1.5);
  EXPECT_DOUBLE_EQ(layer.inactivePerPass, (0.5 + 0.5 + 0.75) / 3);
  EXPECT_DOUBLE_EQ(layer.inactivePerBatch, layer.inactivePerPass);  // one pass per batch
  EXPECT_DOUBLE_EQ(layer.neverActive, 0.0);
  EXPECT_DOUBLE_EQ(layer.maxHottestPassShare, 1.0);
  EXPECT_DOUBLE_EQ(layer.meanHottestPassShare, (2.0 / 3 + 0.5 + 1.0) / 3);
  // {0,1} -> {0,2}: expert 0 stays (1 of 2); {0,2} -> {3}: none (0 of 2).
  EXPECT_DOUBLE_EQ(layer.reuseNextPass, 0.25);
  EXPECT_EQ(layer.reuse.accesses, 5u);
  EXPECT_EQ(layer.reuse.coldAccesses, 4u);
  EXPECT_EQ(layer.reuse.reuses(), 1u);
  EXPECT_DOUBLE_EQ(layer.reuse.quantileDistance(0.5), 1.0);
  EXPECT_DOUBLE_EQ(layer.loadShare[0], 3.0 / 8.0);
  ASSERT_EQ(stats.stacks.size(), 1u);
  EXPECT_EQ(stats.stacks[0].stack, LayerStack::Lm);
  EXPECT_DOUBLE_EQ(stats.stacks[0].gini, 0.25);
}

TEST(RoutingStatisticsTest, DecoderStepsArePassesAndBatchesAreTheirUnion) {
  // Decoder layer, 4 experts. Batch 0: step 0 -> expert 0, step 1 -> expert 1; batch 1: expert 2
  // at both steps. Per step 3 of 4 idle; per batch {0,1} (0.5 idle) and {2} (0.75 idle).
  RoutingLog log =
      logOf({{LayerStack::Encoder, 0}, {LayerStack::Decoder, 0}}, 4, 1,
            {record(0, 0, 0, {0, 1, 2, 3}), record(0, 1, 0, {0}), record(0, 1, 1, {1}),
             record(1, 0, 0, {0, 1, 2, 3}), record(1, 1, 0, {2}), record(1, 1, 1, {2})});
  RoutingStatistics stats = routingStatistics(log);
  const StackStatistics* decoder = stats.stack(LayerStack::Decoder);
  ASSERT_NE(decoder, nullptr);
  EXPECT_EQ(decoder->passesPerLayer, 4u);
  EXPECT_DOUBLE_EQ(decoder->inactivePerPass, 0.75);
  EXPECT_DOUBLE_EQ(decoder->inactivePerBatch, (0.5 + 0.75) / 2);
  EXPECT_DOUBLE_EQ(decoder->neverActive, 0.25);  // expert 3 never
  // 0 -> 1 -> 2 -> 2: only the last transition keeps its expert.
  EXPECT_DOUBLE_EQ(decoder->reuseNextPass, 1.0 / 3.0);
  const StackStatistics* encoder = stats.stack(LayerStack::Encoder);
  ASSERT_NE(encoder, nullptr);
  EXPECT_DOUBLE_EQ(encoder->inactivePerPass, 0.0);
  EXPECT_DOUBLE_EQ(encoder->gini, 0.0);
  EXPECT_DOUBLE_EQ(encoder->reuseNextPass, 1.0);
  EXPECT_EQ(stats.stack(LayerStack::Lm), nullptr);
}

TEST(RoutingStatisticsTest, SimilarityIsOneForIdenticalRunsAndZeroForDisjointExperts) {
  auto a = routingStatistics(logOf({{LayerStack::Lm, 0}}, 4, 1, {record(0, 0, 0, {0, 1, 1})}));
  auto b = routingStatistics(logOf({{LayerStack::Lm, 0}}, 4, 1, {record(0, 0, 0, {2, 3, 3})}));
  LoadSimilarity same = loadSimilarity(a, a, std::nullopt);
  EXPECT_DOUBLE_EQ(same.cosine, 1.0);
  EXPECT_NEAR(same.jensenShannon, 0.0, 1e-12);
  EXPECT_EQ(same.layers, 1);
  LoadSimilarity disjoint = loadSimilarity(a, b, LayerStack::Lm);
  EXPECT_DOUBLE_EQ(disjoint.cosine, 0.0);
  EXPECT_NEAR(disjoint.jensenShannon, 1.0, 1e-12);
  // Shares (1/2, 1/2) against (1, 0): cosine 1/sqrt(2); with m = (3/4, 1/4) the divergence is
  // 0.5*(0.5 log2(0.5/0.75) + 0.5 log2(0.5/0.25)) + 0.5*(1 log2(1/0.75)).
  std::vector<double> p = {0.5, 0.5}, q = {1.0, 0.0};
  EXPECT_NEAR(cosineSimilarity(p, q), 1 / std::sqrt(2.0), 1e-12);
  double expected =
      0.5 * (0.5 * std::log2(0.5 / 0.75) + 0.5 * std::log2(2.0)) + 0.5 * std::log2(1 / 0.75);
  EXPECT_NEAR(jensenShannonDivergence(p, q), expected, 1e-12);
  auto other = routingStatistics(logOf({{LayerStack::Lm, 0}}, 8, 1, {record(0, 0, 0, {7})}));
  std::string message =
      moeprof::testing::inputErrorMessage([&] { loadSimilarity(a, other, std::nullopt); });
  EXPECT_NE(message.find("8 experts"), std::string::npos) << message;
}

TEST(RoutingStatisticsTest, SimilarityMatrixRefusesRunsOfDifferentModels) {
  CharacterizationOptions options;
  Characterization c;
  RunLabel first, second;
  first.source = "runs/a";
  second.source = "runs/b";
  c.runs.push_back(characterizeLog(handLmLog(), first, options));
  auto mt = logOf({{LayerStack::Decoder, 0}}, 4, 1, {record(0, 0, 0, {1})});
  mt.header.model = "other";
  c.runs.push_back(characterizeLog(mt, second, options));
  std::string message = moeprof::testing::inputErrorMessage([&] { addSimilarity(c, options); });
  EXPECT_NE(message.find("runs/b"), std::string::npos) << message;
  EXPECT_NE(message.find("other"), std::string::npos) << message;
  options.similarity = false;
  addSimilarity(c, options);
  EXPECT_TRUE(c.similarity.empty());
}

TEST(RoutingStatisticsTest, CharacterizingALogReplaysCachesAndSkipsPlacementOnOnePass) {
  CharacterizationOptions options;
  options.slots = {1, 2, 3, 9};  // 9 > 4 experts: skipped
  options.devices = {2, 3};      // 3 does not divide 4: skipped
  RunCharacterization run = characterizeLog(handLmLog(), RunLabel{}, options);
  EXPECT_EQ(run.label.preset, "hand");
  ASSERT_EQ(run.replays.size(), 1u);
  ASSERT_TRUE(run.replays[0].caches.has_value());
  EXPECT_EQ(run.replays[0].caches->curves.front().points.size(), 3u);
  ASSERT_TRUE(run.replays[0].placement.has_value());         // 3 passes
  EXPECT_EQ(run.replays[0].placement->outcomes.size(), 2u);  // roundrobin, greedy at 2
  RunCharacterization single =
      characterizeLog(logOf({{LayerStack::Lm, 0}}, 4, 1, {record(0, 0, 0, {0})}), {}, options);
  EXPECT_FALSE(single.replays[0].placement.has_value());
}

TEST(ZipfRoutingTest, WeightsFollowTheLawOverAPermutation) {
  std::vector<double> w = zipfExpertWeights(16, 1.5, 7);
  std::vector<double> sorted = w;
  std::sort(sorted.rbegin(), sorted.rend());
  for (size_t r = 1; r < sorted.size(); ++r) {
    EXPECT_NEAR(sorted[0] / sorted[r], std::pow(double(r + 1), 1.5), 1e-9);
  }
  EXPECT_NE(w, zipfExpertWeights(16, 1.5, 8)) << "another seed permutes differently";
  EXPECT_EQ(w, zipfExpertWeights(16, 1.5, 7));
  for (double bad : {0.0, -1.0, std::nan("")}) {
    std::string message =
        moeprof::testing::inputErrorMessage([&] { zipfExpertWeights(16, bad, 1); });
    EXPECT_NE(message.find("> 0"), std::string::npos) << message;
  }
}

RoutingLog templateLog() {
  std::vector<RoutingRecord> records;
  for (uint32_t batch = 0; batch < 4; ++batch) {
    records.push_back(record(batch, 0, 0, std::vector<uint16_t>(2 * 500, 0), 2));
    for (uint32_t step = 0; step < 3; ++step) {
      records.push_back(record(batch, 1, step, std::vector<uint16_t>(2 * 8, 1), 2));
    }
  }
  return logOf({{LayerStack::Encoder, 0}, {LayerStack::Decoder, 0}}, 32, 2, records);
}

TEST(ZipfRoutingTest, DeterministicAndShapedLikeTheTemplate) {
  RoutingLog shape = templateLog();
  RoutingLog a = zipfRoutingLike(shape, 1.0, 42);
  RoutingLog b = zipfRoutingLike(shape, 1.0, 42);
  RoutingLog c = zipfRoutingLike(shape, 1.0, 43);
  EXPECT_EQ(a.header, shape.header);
  ASSERT_EQ(a.records.size(), shape.records.size());
  EXPECT_EQ(a.records, b.records);
  EXPECT_NE(a.records, c.records);
  for (size_t i = 0; i < a.records.size(); ++i) {
    const RoutingRecord& r = a.records[i];
    EXPECT_EQ(r.batch, shape.records[i].batch);
    EXPECT_EQ(r.moeLayer, shape.records[i].moeLayer);
    EXPECT_EQ(r.step, shape.records[i].step);
    ASSERT_EQ(r.numTokens, shape.records[i].numTokens);
    ASSERT_EQ(r.experts.size(), r.numTokens * 2u);
    for (size_t t = 0; t < r.numTokens; ++t) {
      EXPECT_NE(r.experts[2 * t], r.experts[2 * t + 1]) << "top-k experts are distinct";
      EXPECT_LT(r.experts[2 * t], 32);
      EXPECT_LT(r.experts[2 * t + 1], 32);
    }
  }
  std::string message = moeprof::testing::inputErrorMessage([&] { zipfRoutingLike(shape, -2, 1); });
  EXPECT_NE(message.find("-2"), std::string::npos) << message;
}

TEST(ZipfRoutingTest, FirstChoicesFollowZipfAndSkewGrowsWithS) {
  constexpr uint32_t kTokens = 200000, kExperts = 16;
  RoutingLog shape = logOf({{LayerStack::Lm, 0}}, kExperts, 2,
                           {record(0, 0, 0, std::vector<uint16_t>(2 * kTokens, 0), 2)});
  RoutingLog log = zipfRoutingLike(shape, 1.2, 5);
  std::vector<double> first(kExperts, 0);
  for (uint32_t t = 0; t < kTokens; ++t) first[log.records[0].experts[2 * t]] += 1;
  // The layer's law: the generator's permutation for layer 0, recovered from the counts' order
  // and compared rank by rank with r^-s (normalized) within 5 standard deviations.
  std::vector<double> sorted = first;
  std::sort(sorted.rbegin(), sorted.rend());
  double norm = 0;
  for (uint32_t r = 1; r <= kExperts; ++r) norm += std::pow(double(r), -1.2);
  for (uint32_t r = 1; r <= kExperts; ++r) {
    double p = std::pow(double(r), -1.2) / norm;
    double sigma = std::sqrt(kTokens * p * (1 - p));
    EXPECT_NEAR(sorted[r - 1], kTokens * p, 5 * sigma + 1) << "rank " << r;
  }
  double previous = -1;
  for (double s : {0.3, 0.8, 1.5, 3.0}) {
    double gini = routingStatistics(zipfRoutingLike(shape, s, 5)).layers[0].gini;
    EXPECT_GT(gini, previous) << "s = " << s;
    previous = gini;
  }
}

}  // namespace
}  // namespace moeprof::analysis
