#include "reports/comparison_report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace moeprof::reports {
namespace {

analysis::RunComparison sampleComparison() {
  analysis::RunComparison comparison;
  comparison.labelA = "static";
  comparison.labelB = "dynamic";
  comparison.metrics = {{"latency_ms", 10.0, 62.1, 6.21},
                        {"only_b", std::nullopt, 3.0, std::nullopt},
                        {"zero", 0.0, 1.5, std::nullopt}};
  comparison.configDifferences = {{"gating", "\"static\"", "\"dynamic\""},
                                  {"slots", std::nullopt, "4"}};
  return comparison;
}

TEST(ComparisonTable, ShowsValuesRatiosAndDashesForMissing) {
  Table table = comparisonTable(sampleComparison());
  EXPECT_EQ(table.headers(), (std::vector<std::string>{"metric", "static", "dynamic", "B/A"}));
  ASSERT_EQ(table.numRows(), 3u);
  EXPECT_EQ(table.rows()[0], (std::vector<std::string>{"latency_ms", "10", "62.1", "6.21x"}));
  EXPECT_EQ(table.rows()[1], (std::vector<std::string>{"only_b", "-", "3", "-"}));
  EXPECT_EQ(table.rows()[2], (std::vector<std::string>{"zero", "0", "1.5", "-"}));
  EXPECT_EQ(table.alignments()[1], Align::Right);
}

TEST(ConfigDifferencesTable, ShowsJsonValues) {
  Table table = configDifferencesTable(sampleComparison());
  ASSERT_EQ(table.numRows(), 2u);
  EXPECT_EQ(table.rows()[0], (std::vector<std::string>{"gating", "\"static\"", "\"dynamic\""}));
  EXPECT_EQ(table.rows()[1], (std::vector<std::string>{"slots", "-", "4"}));
}

TEST(ComparisonJson, NullsForMissingAndConfigValuesAsJson) {
  nlohmann::json root = nlohmann::json::parse(comparisonJson(sampleComparison()));
  EXPECT_EQ(root["label_a"], "static");
  EXPECT_EQ(root["label_b"], "dynamic");
  ASSERT_EQ(root["metrics"].size(), 3u);
  EXPECT_EQ(root["metrics"][0]["key"], "latency_ms");
  EXPECT_EQ(root["metrics"][0]["ratio"], 6.21);
  EXPECT_TRUE(root["metrics"][1]["a"].is_null());
  EXPECT_TRUE(root["metrics"][2]["ratio"].is_null());
  EXPECT_EQ(root["config_differences"][0]["b"], "dynamic");
  EXPECT_EQ(root["config_differences"][1]["b"], 4);
  EXPECT_TRUE(root["config_differences"][1]["a"].is_null());
}

TEST(ComparisonJson, EmptyComparisonHasEmptyArrays) {
  nlohmann::json root = nlohmann::json::parse(comparisonJson({}));
  EXPECT_TRUE(root["metrics"].is_array());
  EXPECT_TRUE(root["metrics"].empty());
  EXPECT_TRUE(root["config_differences"].is_array());
}

}  // namespace
}  // namespace moeprof::reports
