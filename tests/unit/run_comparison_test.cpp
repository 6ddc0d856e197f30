#include "analysis/run_comparison.h"

#include <gtest/gtest.h>

namespace moeprof::analysis {
namespace {

using nlohmann::json;

collector::RunManifest manifest(json config, json metrics) {
  collector::RunManifest result;
  result.config = std::move(config);
  result.metrics = std::move(metrics);
  return result;
}

TEST(FlattenNumericMetrics, DottedSortedKeysSkippingNonScalars) {
  json metrics = {
      {"encoder", {{"latency_ms", {{"median", 12.5}, {"p99", 20}}}}},
      {"tokens_per_s", 321},
      {"dropped", -3},
      {"samples_ms", {1.0, 2.0, 3.0}},  // arrays are skipped
      {"balanced", true},               // booleans are skipped
      {"device", "cpu"},
      {"missing", nullptr},
  };
  std::vector<std::pair<std::string, double>> expected = {{"dropped", -3.0},
                                                          {"encoder.latency_ms.median", 12.5},
                                                          {"encoder.latency_ms.p99", 20.0},
                                                          {"tokens_per_s", 321.0}};
  EXPECT_EQ(flattenNumericMetrics(metrics), expected);
}

TEST(FlattenNumericMetrics, LargeUnsignedAndEmptyInputs) {
  json metrics = {{"bytes", uint64_t{1} << 40}};
  auto flat = flattenNumericMetrics(metrics);
  ASSERT_EQ(flat.size(), 1u);
  EXPECT_EQ(flat[0].second, 1099511627776.0);
  EXPECT_TRUE(flattenNumericMetrics(json::object()).empty());
  EXPECT_TRUE(flattenNumericMetrics(json()).empty());
}

TEST(FlattenJsonLeaves, ArraysAndEmptyObjectsAreLeaves) {
  json config = {{"a", {{"b", 1}, {"c", json::object()}}}, {"list", {1, 2}}, {"name", "x"}};
  std::vector<std::pair<std::string, std::string>> expected = {
      {"a.b", "1"}, {"a.c", "{}"}, {"list", "[1,2]"}, {"name", "\"x\""}};
  EXPECT_EQ(flattenJsonLeaves(config), expected);
}

TEST(CompareRuns, UnionOfMetricsWithRatios) {
  auto a = manifest(json::object(), {{"latency_ms", 10.0}, {"only_a", 1}, {"zero", 0}});
  auto b = manifest(json::object(), {{"latency_ms", 25.0}, {"only_b", 2}, {"zero", 5}});
  RunComparison comparison = compareRuns(a, b, "baseline", "dynamic");
  EXPECT_EQ(comparison.labelA, "baseline");
  EXPECT_EQ(comparison.labelB, "dynamic");
  ASSERT_EQ(comparison.metrics.size(), 4u);

  EXPECT_EQ(comparison.metrics[0].key, "latency_ms");
  EXPECT_EQ(comparison.metrics[0].a, 10.0);
  EXPECT_EQ(comparison.metrics[0].b, 25.0);
  ASSERT_TRUE(comparison.metrics[0].ratio.has_value());
  EXPECT_DOUBLE_EQ(*comparison.metrics[0].ratio, 2.5);

  EXPECT_EQ(comparison.metrics[1], (MetricDelta{"only_a", 1.0, std::nullopt, std::nullopt}));
  EXPECT_EQ(comparison.metrics[2], (MetricDelta{"only_b", std::nullopt, 2.0, std::nullopt}));
  // A zero baseline has no ratio rather than an infinite one.
  EXPECT_EQ(comparison.metrics[3], (MetricDelta{"zero", 0.0, 5.0, std::nullopt}));
}

TEST(CompareRuns, ReportsOnlyDifferingConfigLeaves) {
  auto a = manifest({{"gating", {{"mode", "static"}, {"capacity_factor", 1.25}}},
                     {"batch", 8},
                     {"seed", 1},
                     {"old_option", true}},
                    json::object());
  auto b = manifest({{"gating", {{"mode", "dynamic"}, {"capacity_factor", 1.25}}},
                     {"batch", "8"},  // a string 8 is not the number 8
                     {"seed", 1},
                     {"new_option", 3}},
                    json::object());
  RunComparison comparison = compareRuns(a, b);
  EXPECT_EQ(comparison.labelA, "A");
  std::vector<ConfigDifference> expected = {
      {"batch", "8", "\"8\""},
      {"gating.mode", "\"static\"", "\"dynamic\""},
      {"new_option", std::nullopt, "3"},
      {"old_option", "true", std::nullopt},
  };
  EXPECT_EQ(comparison.configDifferences, expected);
}

TEST(CompareRuns, IdenticalRunsHaveRatioOneAndNoConfigDifferences) {
  auto a = manifest({{"x", 1}}, {{"m", {{"n", 4.0}}}});
  RunComparison comparison = compareRuns(a, a);
  ASSERT_EQ(comparison.metrics.size(), 1u);
  EXPECT_EQ(comparison.metrics[0].key, "m.n");
  EXPECT_EQ(comparison.metrics[0].ratio, 1.0);
  EXPECT_TRUE(comparison.configDifferences.empty());
}

}  // namespace
}  // namespace moeprof::analysis
