// `moeprof reproduce --scale tiny --deployment` checked on what it measured: Expert Buffering's
// live runs cut the static weight memory, the prefetch and placement rows are there with a
// measured value, and every deployment row's verdict is the rule's verdict for its numbers.
// One test: ctest runs each test in a process of its own, and the reproduction takes about 25 s
// on 2 cores.
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

class ReproduceDeployment : public testing::TempDirTest {
 protected:
  nlohmann::json read(const fs::path& file) const {
    return nlohmann::json::parse(std::ifstream(dir_ / "r" / file));
  }
  std::string text(const fs::path& file) const {
    std::ifstream in(dir_ / "r" / file);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  // The summary's rows of the deployment study, by paper key.
  std::multimap<std::string, nlohmann::json> deploymentRows() const {
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
  void checkBufferingCutsStaticMemory() const;
  void checkPrefetchAndPlacementRowsAreMeasured() const;
  void checkVerdictsAreTheRules() const;
  void checkRowsReachTheReports(const std::string& output) const;
};

// mt-tiny has 8 experts: half of them stay in slots, so the buffered run holds less weight
// memory than every expert resident; 4 slots are not the paper's 10, so not comparable.
void ReproduceDeployment::checkBufferingCutsStaticMemory() const {
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

void ReproduceDeployment::checkPrefetchAndPlacementRowsAreMeasured() const {
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
void ReproduceDeployment::checkVerdictsAreTheRules() const {
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

void ReproduceDeployment::checkRowsReachTheReports(const std::string& output) const {
  EXPECT_NE(output.find("pre-gated / on-demand"), std::string::npos);
  for (const char* file : {"summary.md", "report.md"}) {
    const std::string report = text(file);
    EXPECT_NE(report.find("Expert Buffering: static memory"), std::string::npos) << file;
    EXPECT_NE(report.find("greedy / round-robin placement"), std::string::npos) << file;
    EXPECT_NE(report.find("Hwang et al."), std::string::npos) << file << ": the source is named";
  }
}

TEST_F(ReproduceDeployment, RowsAreMeasuredJudgedByTheRulesAndReported) {
  const auto result = testing::runMoeprof(
      "reproduce --scale tiny --deployment --threads 1 --repeats 2 --out " + path("r"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  checkBufferingCutsStaticMemory();
  checkPrefetchAndPlacementRowsAreMeasured();
  checkVerdictsAreTheRules();
  checkRowsReachTheReports(result.output);
}

}  // namespace
}  // namespace moeprof
