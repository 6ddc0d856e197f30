// The committed routing of the trained default models on real text (tests/fixtures/routing,
// written by scripts/make_routing_fixture.sh): the routing statistics checked against direct
// counts of the raw records, and the findings of the paper that real routing shows and random
// routing would not (skew, domain dependence, Belady as the floor of every cache policy).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "analysis/cache_simulation.h"
#include "analysis/characterization.h"
#include "analysis/routing_statistics.h"
#include "collector/routing_log.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using collector::LayerStack;

const char* const kFixtures[] = {"lm-prose", "lm-code", "lm-license", "mt-fr", "mt-ja", "mt-ast"};

fs::path fixture(const std::string& name) {
  return fs::path(MOEPROF_SOURCE_DIR) / "tests/fixtures/routing" / name;
}

collector::RoutingLog fixtureLog(const std::string& name) {
  return collector::readRoutingLog(analysis::routingLogOfRun(fixture(name)));
}

// Gini as the mean absolute difference of all pairs over twice the mean.
double pairwiseGini(const std::vector<double>& x) {
  double differences = 0, sum = 0;
  for (double a : x) {
    sum += a;
    for (double b : x) differences += std::abs(a - b);
  }
  return sum > 0 ? differences / (2.0 * static_cast<double>(x.size()) * sum) : 0.0;
}

TEST(RoutingFixture, StatisticsMatchDirectCountsOfTheRecords) {
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    auto log = fixtureLog(name);
    auto statistics = analysis::routingStatistics(log);
    const size_t experts = log.header.numExperts;
    ASSERT_EQ(statistics.layers.size(), log.header.layers.size());
    for (size_t layer = 0; layer < log.header.layers.size(); ++layer) {
      std::vector<double> counts(experts, 0);
      double idleSum = 0;
      int passes = 0;
      for (const auto& record : log.records) {
        if (record.moeLayer != layer) continue;
        std::set<uint16_t> active;
        for (uint16_t e : record.experts) {
          counts.at(e) += 1;  // dynamic gating: nothing dropped
          active.insert(e);
        }
        idleSum += 1.0 - static_cast<double>(active.size()) / static_cast<double>(experts);
        ++passes;
      }
      ASSERT_GT(passes, 0);
      const auto& s = statistics.layers[layer];
      EXPECT_NEAR(s.gini, pairwiseGini(counts), 1e-9);
      EXPECT_NEAR(s.inactivePerPass, idleSum / passes, 1e-9);
      EXPECT_EQ(s.passes, static_cast<uint64_t>(passes));
    }
  }
}

TEST(RoutingFixture, TrainedRoutingIsSkewedAndDependsOnTheLmDomain) {
  analysis::CharacterizationOptions options;
  auto result = analysis::characterizeRuns(
      {fixture("lm-prose"), fixture("lm-code"), fixture("lm-license")}, {}, 1, options);
  ASSERT_EQ(result.runs.size(), 3u);
  for (const auto& run : result.runs) {
    const auto* lm = run.statistics.stack(LayerStack::Lm);
    ASSERT_NE(lm, nullptr);
    EXPECT_GT(lm->top10Share, 0.3) << run.label.text();  // uniform routing: 0.1
  }
  ASSERT_EQ(result.similarity.size(), 1u);
  const auto& pairs = result.similarity[0].pairs;  // 0 prose, 1 code, 2 license
  EXPECT_LT(pairs[0][1].cosine, pairs[0][2].cosine) << "code should route unlike prose";
  EXPECT_NEAR(pairs[1][1].cosine, 1.0, 1e-9);
}

TEST(RoutingFixture, BeladyIsTheFloorOnRealDecoderRouting) {
  const std::vector<std::string> policies = {"lifo", "lru", "lfu", "fifo", "belady"};
  const std::vector<uint32_t> slots = {2, 4, 6, 8, 10, 12, 16};
  for (const char* name : {"mt-fr", "mt-ja", "mt-ast"}) {
    SCOPED_TRACE(name);
    auto decoder = collector::onlyStack(fixtureLog(name), LayerStack::Decoder);
    auto simulation =
        analysis::simulateCaches(decoder, policies, slots, analysis::CacheScope::Layer);
    const auto& belady = simulation.curves.back();
    ASSERT_EQ(belady.policy, "belady");
    for (size_t i = 0; i < slots.size(); ++i) {
      for (const auto& curve : simulation.curves) {
        EXPECT_LE(belady.points[i].counts.misses, curve.points[i].counts.misses)
            << curve.policy << " at " << slots[i] << " slots";
      }
      if (i > 0) {  // LRU and MIN are stack algorithms: more slots never miss more
        EXPECT_LE(belady.points[i].counts.misses, belady.points[i - 1].counts.misses);
        EXPECT_LE(simulation.curves[1].points[i].counts.misses,
                  simulation.curves[1].points[i - 1].counts.misses);
      }
    }
    EXPECT_LT(belady.points.back().counts.missRate(), belady.points.front().counts.missRate());
  }
}

TEST(RoutingFixture, CharacterizeCommandReadsTheFixture) {
  auto result = testing::runMoeprof("characterize " + fixture("mt-fr").string() + " " +
                                    fixture("mt-ja").string() + " --zipf 1.2 --slots 2..16");
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NE(result.output.find("decode=reference"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("zipf s=1.2"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace moeprof
