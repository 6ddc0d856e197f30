// `moeprof reproduce --scale tiny --deployment` checked on what it measured: Expert Buffering's
// live runs cut the static weight memory, the prefetch and placement rows are there with a
// measured value, and every deployment row's verdict is the rule's verdict for its numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/reproduction_verdict.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;

class ReproduceDeployment : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("moeprof_reproduce_deployment_" + std::to_string(getpid())));
    fs::remove_all(*dir_);
    result_ = new testing::CommandResult(testing::runMoeprof(
        "reproduce --scale tiny --deployment --threads 1 --repeats 2 --out " + dir_->string()));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete result_;
  }
  void SetUp() override { ASSERT_EQ(result_->exitCode, 0) << result_->output; }
  static nlohmann::json read(const fs::path& file) {
    return nlohmann::json::parse(std::ifstream(*dir_ / file));
  }
  // The summary's rows of the deployment study, by paper key.
  static std::multimap<std::string, nlohmann::json> deploymentRows() {
    std::multimap<std::string, nlohmann::json> rows;
    const auto summary = read("summary.json");
    for (const auto& row : summary.at("reproduction")) {
      const std::string key = row.at("paper_key");
      if (key.starts_with("buffering_") || key.starts_with("pregate_") || key == "balancing_gain") {
        rows.emplace(key, row);
      }
    }
    return rows;
  }
  static fs::path* dir_;
  static testing::CommandResult* result_;
};
fs::path* ReproduceDeployment::dir_ = nullptr;
testing::CommandResult* ReproduceDeployment::result_ = nullptr;

// mt-tiny has 8 experts: half of them stay in slots, so the buffered run holds less weight
// memory than every expert resident; 4 slots are not the paper's 10, so not comparable.
TEST_F(ReproduceDeployment, BufferingCutsStaticMemory) {
  const auto rows = deploymentRows();
  ASSERT_EQ(rows.count("buffering_memory_gain"), 1u);
  const auto& row = rows.find("buffering_memory_gain")->second;
  EXPECT_GT(row.at("measured").get<double>(), 1.0) << row.dump();
  EXPECT_EQ(row.at("verdict"), "not comparable") << row.dump();
  EXPECT_NE(row.at("reason").get<std::string>().find("4 slots per layer here"), std::string::npos);
  const auto run = read("deployment/mt-tiny-dynamic-b48-buffer4-off/run.json");
  EXPECT_LT(run.at("metrics").at("peak_weight_bytes").get<double>(),
            run.at("metrics").at("buffering").at("unbuffered_weight_bytes").get<double>());
  EXPECT_EQ(rows.count("buffering_latency_cost"), 2u) << "MT encoder and decoder";
}

TEST_F(ReproduceDeployment, PrefetchAndPlacementRowsAreMeasured) {
  const auto rows = deploymentRows();
  for (const char* key :
       {"pregate_throughput_gain", "pregate_block_gain_ondemand", "pregate_block_gain_prefetch"}) {
    EXPECT_EQ(rows.count(key), 2u) << key << ": MT encoder and decoder";
  }
  // LM forward with greedy; MT encoder and decoder with greedy and anticorr.
  EXPECT_EQ(rows.count("balancing_gain"), 5u);
  for (const auto& [key, row] : rows) {
    ASSERT_TRUE(row.at("measured").is_number()) << row.dump();
    EXPECT_TRUE(std::isfinite(row.at("measured").get<double>())) << row.dump();
  }
  const auto greedy = read("deployment/mt-tiny-dynamic-b48-ranks2-greedy/run.json");
  EXPECT_EQ(greedy.at("metrics").at("expert_parallel").at("ranks"), 2);
  EXPECT_TRUE(greedy.at("metrics").at("expert_parallel").contains("placement_metrics"));
}

// A row's verdict is judgeFinding's for its paper figure and measurement; where the paper gives
// no number (the latency cost of buffering) at best the direction.
TEST_F(ReproduceDeployment, VerdictsAreTheRules) {
  for (const auto& [key, row] : deploymentRows()) {
    if (row.at("verdict") == "not comparable") continue;
    std::optional<double> paper;
    if (row.at("paper").is_number()) paper = row.at("paper").get<double>();
    auto expected =
        analysis::judgeFinding(paper, row.at("measured").get<double>(), analysis::findingRule(key))
            .verdict;
    if (!paper && expected == analysis::ReproductionVerdict::Reproduced) {
      expected = analysis::ReproductionVerdict::DirectionReproduced;
    }
    EXPECT_EQ(row.at("verdict"), analysis::reproductionVerdictName(expected)) << row.dump();
  }
}

TEST_F(ReproduceDeployment, RowsReachTheTextAndHtmlReports) {
  EXPECT_NE(result_->output.find("pre-gated / on-demand"), std::string::npos);
  for (const char* file : {"summary.md", "report.md"}) {
    std::ifstream in(*dir_ / file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("Expert Buffering: static memory"), std::string::npos) << file;
    EXPECT_NE(text.find("greedy / round-robin placement"), std::string::npos) << file;
  }
}

}  // namespace
}  // namespace moeprof
