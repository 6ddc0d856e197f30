// `moeprof reproduce --scale tiny` checked on what it measured (summary.json, report.json), not
// on the paper's constants it prints: the waste factors follow from E, CF and k by hand, dynamic
// gating needs less activation memory, Belady's optimum is never above another cache policy,
// and every row beside the paper carries a verdict. Throughput is checked only where the margin
// is large (see DynamicGatingIsFasterWhereTheMarginIsLarge).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;

// One reproduction for every test of this file: it takes seconds.
class ReproduceFacts : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("moeprof_reproduce_facts_" + std::to_string(getpid())));
    fs::remove_all(*dir_);
    result_ = new testing::CommandResult(
        testing::runMoeprof("reproduce --scale tiny --repeats 3 --out " + dir_->string()));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete result_;
  }
  void SetUp() override { ASSERT_EQ(result_->exitCode, 0) << result_->output; }
  static nlohmann::json read(const std::string& name) {
    return nlohmann::json::parse(std::ifstream(*dir_ / name));
  }
  static fs::path* dir_;
  static testing::CommandResult* result_;
};
fs::path* ReproduceFacts::dir_ = nullptr;
testing::CommandResult* ReproduceFacts::result_ = nullptr;

// The static gating waste factor, derived by hand: E experts x capacity slots over the k x S
// assignments. lm-tiny (E 8, CF 0.05, k 2) at batch 8 x 8 tokens: capacity ceil(0.05 x 64) = 4,
// 8 x 4 / (2 x 64) = 0.25. mt-tiny (E 8, CF 1.0): capacity S, 8 S / 2 S = 4 in every phase.
TEST_F(ReproduceFacts, WasteFactorsAreTheHandDerivedOnes) {
  int checked = 0;
  for (const auto& p : read("summary.json").at("points")) {
    if (p.at("gating") != "static") continue;
    const double expected = p.at("workload") == "lm" ? 0.25 : 4.0;
    EXPECT_DOUBLE_EQ(p.at("waste_factor").get<double>(), expected) << p.dump();
    ++checked;
  }
  EXPECT_EQ(checked, 5) << "lm forward; mt encoder and decoder at batches 8 and 48";
}

// E = 8 is not the paper's 512 or 128: the paper's 12.8x and 64x are not this preset's.
TEST_F(ReproduceFacts, WasteRowsOfAnotherExpertCountAreNotComparable) {
  for (const auto& row : read("summary.json").at("reproduction")) {
    if (row.at("paper_key") != "waste_factor") continue;
    EXPECT_EQ(row.at("verdict"), "not comparable") << row.dump();
    EXPECT_NE(row.at("reason").get<std::string>().find("E = 8"), std::string::npos);
  }
}

TEST_F(ReproduceFacts, DynamicGatingNeedsLessActivationMemory) {
  const auto gains = read("summary.json").at("gating_gains");
  ASSERT_EQ(gains.size(), 5u);
  for (const auto& g : gains) EXPECT_LT(g.at("activation_change").get<double>(), 0) << g.dump();
}

// At tiny shapes most rows are within a few x of each other and move with the machine's load
// (the MT decoder at batch 8 measured 0.9x-1.4x). lm-tiny's static gating at batch 8 computes a
// dispatch of E x C x S = 8 x 4 x 64 against dynamic's 128 gathered rows and measured 100x or
// more on every run; MT's encoder at batch 48 (E x S x S) at least 1.5x. Those are asserted with
// a margin no load swing closes.
TEST_F(ReproduceFacts, DynamicGatingIsFasterWhereTheMarginIsLarge) {
  std::map<std::string, double> gain;
  for (const auto& g : read("summary.json").at("gating_gains")) {
    gain[g.at("phase").get<std::string>() + "/" + std::to_string(g.at("batch").get<int>())] =
        g.at("throughput_gain").get<double>();
  }
  EXPECT_GT(gain.at("forward/8"), 5.0);
  EXPECT_GT(gain.at("encoder/48"), 1.1);
}

TEST_F(ReproduceFacts, BeladyIsNeverAboveAnyPolicy) {
  int curves = 0;
  for (const auto& section : read("report.json").at("sections")) {
    for (const auto& block : section.at("blocks")) {
      if (!block.contains("chart")) continue;
      const auto& chart = block.at("chart");
      if (chart.at("title").get<std::string>().rfind("Expert Buffering miss rate", 0) != 0)
        continue;
      std::map<double, double> belady;
      for (const auto& series : chart.at("series")) {
        if (series.at("name").get<std::string>().rfind("belady", 0) != 0) continue;
        for (const auto& p : series.at("data")) belady[p.at("x")] = p.at("y");
      }
      ASSERT_FALSE(belady.empty()) << chart.at("title");
      for (const auto& series : chart.at("series")) {
        for (const auto& p : series.at("data")) {
          EXPECT_LE(belady.at(p.at("x")), p.at("y").get<double>() + 1e-12)
              << chart.at("title") << " " << series.at("name") << " at " << p.at("x");
        }
      }
      ++curves;
    }
  }
  EXPECT_GE(curves, 3) << "lm layers, mt encoder and decoder layers";
}

TEST_F(ReproduceFacts, EveryRowHasPaperMeasuredRatioAndVerdict) {
  const auto rows = read("summary.json").at("reproduction");
  ASSERT_GE(rows.size(), 15u);
  const std::set<std::string> verdicts = {"reproduced", "direction reproduced", "not reproduced",
                                          "not comparable"};
  bool memoryRow = false;
  for (const auto& row : rows) {
    EXPECT_TRUE(verdicts.count(row.at("verdict"))) << row.dump();
    EXPECT_FALSE(row.at("reason").get<std::string>().empty()) << row.dump();
    EXPECT_FALSE(row.at("measured").is_null()) << row.dump();
    if (!row.at("paper").is_null() && row.at("verdict") != "not comparable") {
      EXPECT_NEAR(row.at("ratio").get<double>(),
                  row.at("measured").get<double>() / row.at("paper").get<double>(), 1e-9);
    }
    memoryRow = memoryRow || row.at("paper_key") == "peak_memory_ratio";
  }
  EXPECT_TRUE(memoryRow) << "MoE vs dense peak memory";
  std::ifstream in(*dir_ / "summary.md");
  std::string summary((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(summary.find("| verdict |"), std::string::npos);
  EXPECT_NE(summary.find("Verdicts: "), std::string::npos) << "the rules are stated";
}

}  // namespace
}  // namespace moeprof
