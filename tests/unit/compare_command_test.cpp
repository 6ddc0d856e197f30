// `moeprof compare`, `moeprof baseline` and the CI gate end to end on tiny presets, always on
// runs that differ by known amounts: a test-only slowdown of dynamic gating's experts phase,
// a doubled capacity factor, a different batch, a baseline with a changed metric.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;

using CompareCommandTest = testing::TempDirTest;

CommandResult moeprof(const std::string& arguments) {
  return testing::runMoeprof(arguments);
}

// Sets the test-only slowdown switch for the runs started in its lifetime.
class Slowdown {
 public:
  explicit Slowdown(const char* value) { setenv("MOEPROF_TEST_SLOWDOWN", value, 1); }
  ~Slowdown() { unsetenv("MOEPROF_TEST_SLOWDOWN"); }
};

// The line of `metric` in compare's table (empty when absent).
std::string lineOf(const std::string& output, const std::string& metric) {
  auto start = output.find("\n" + metric + " ");
  if (start == std::string::npos) return "";
  auto end = output.find('\n', start + 1);
  return output.substr(start + 1, end - start - 1);
}

TEST_F(CompareCommandTest, SlowedExpertsPhaseRegressesWithExitThree) {
  const std::string run =
      "run --preset lm-tiny --gating dynamic --batch 8 --seq-len 32 "
      "--repeats 15 --threads 1 --out ";
  ASSERT_EQ(moeprof(run + path("a")).exitCode, 0);
  {
    Slowdown slowdown("experts:3");  // the experts phase takes 4x as long
    ASSERT_EQ(moeprof(run + path("b")).exitCode, 0);
  }
  auto result = moeprof("compare " + path("a") + " " + path("b"));
  EXPECT_EQ(result.exitCode, 3) << result.output;
  const std::string experts = lineOf(result.output, "forward.phase_ms.experts");
  EXPECT_NE(experts.find("regressed"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("Holm"), std::string::npos);
  EXPECT_NE(result.output.find("verdict: regressed"), std::string::npos);

  auto json = moeprof("compare --json " + path("a") + " " + path("b"));
  EXPECT_EQ(json.exitCode, 3);
  auto parsed = nlohmann::json::parse(json.output);
  EXPECT_TRUE(parsed.at("regressed").get<bool>());
  EXPECT_EQ(parsed.at("multiplicity"), "holm");
}

TEST_F(CompareCommandTest, BadSlowdownSwitchExitsTwo) {
  Slowdown slowdown("experts");
  auto result = moeprof("run --preset lm-tiny --gating dynamic --repeats 1 --out " + path("a"));
  EXPECT_EQ(result.exitCode, 2) << result.output;
  EXPECT_NE(result.output.find("MOEPROF_TEST_SLOWDOWN 'experts'"), std::string::npos);
}

TEST_F(CompareCommandTest, DoubledCapacityDoublesTheWasteExactly) {
  const std::string run = "run --preset lm-tiny --gating static --repeats 2 --out ";
  ASSERT_EQ(moeprof(run + path("cf1") + " --capacity-factor 1").exitCode, 0);
  ASSERT_EQ(moeprof(run + path("cf2") + " --capacity-factor 2").exitCode, 0);
  // 16 tokens, top-2, 8 experts: capacity 16 or 32 per expert, waste 8 x C / 32 = 4 or 8.
  auto worse = moeprof("compare " + path("cf1") + " " + path("cf2"));
  EXPECT_EQ(worse.exitCode, 3) << worse.output;
  const std::string waste = lineOf(worse.output, "forward.waste_factor");
  EXPECT_NE(waste.find("regressed"), std::string::npos) << worse.output;
  EXPECT_NE(waste.find("changed by +4 (+100%)"), std::string::npos) << waste;
  EXPECT_NE(lineOf(worse.output, "forward.expert_rows_computed").find("regressed"),
            std::string::npos);
  EXPECT_NE(worse.output.find("capacity_factor"), std::string::npos) << "option listed";
  auto better = moeprof("compare " + path("cf2") + " " + path("cf1"));
  EXPECT_NE(lineOf(better.output, "forward.waste_factor").find("improved"), std::string::npos)
      << better.output;
  EXPECT_NE(lineOf(better.output, "forward.dropped_tokens").find("same"), std::string::npos);
}

TEST_F(CompareCommandTest, DifferentWorkloadsExitTwoUnlessIntended) {
  ASSERT_EQ(moeprof("run --preset lm-tiny --batch 2 --repeats 1 --out " + path("b2")).exitCode, 0);
  ASSERT_EQ(moeprof("run --preset lm-tiny --batch 4 --repeats 1 --out " + path("b4")).exitCode, 0);
  auto refused = moeprof("compare " + path("b2") + " " + path("b4"));
  EXPECT_EQ(refused.exitCode, 2) << refused.output;
  EXPECT_NE(refused.output.find("batch (2 -> 4)"), std::string::npos) << refused.output;
  auto intended = moeprof("compare --allow-different-workloads " + path("b2") + " " + path("b4"));
  EXPECT_NE(intended.exitCode, 2) << intended.output;
  EXPECT_NE(lineOf(intended.output, "forward.expert_rows_needed").find("regressed"),
            std::string::npos)
      << "twice the tokens: a change without a better direction\n"
      << intended.output;
}

TEST_F(CompareCommandTest, RunsRecordedBeforeSamplesCompareAsUnknown) {
  const fs::path fixtures = fs::path(MOEPROF_SOURCE_DIR) / "tests/fixtures/routing";
  auto result = moeprof("compare --allow-different-workloads " + (fixtures / "lm-prose").string() +
                        " " + (fixtures / "lm-code").string());
  EXPECT_EQ(result.exitCode, 0) << result.output;
  const std::string latency = lineOf(result.output, "forward.latency_ms");
  EXPECT_NE(latency.find("unknown"), std::string::npos) << result.output;
  EXPECT_NE(latency.find("no per-unit samples"), std::string::npos) << latency;
}

TEST_F(CompareCommandTest, BadInputExitsTwo) {
  ASSERT_EQ(moeprof("run --preset lm-tiny --repeats 1 --out " + path("a")).exitCode, 0);
  std::ofstream(path("thresholds.json")) << "{\"format\": \"moeprof-thresholds\"}";
  const std::pair<std::string, std::string> cases[] = {
      {"compare " + path("a") + " " + path("missing"), "missing"},
      {"compare --thresholds " + path("thresholds.json") + " " + path("a") + " " + path("a"),
       "thresholds.json"},
      {"compare --alpha 2 " + path("a") + " " + path("a"), "--alpha"},
      {"compare " + path("thresholds.json") + " " + path("a"), "not a baseline file"},
      {"baseline " + path("a") + " --out " + path("thresholds.json") + " --thresholds " +
           path("thresholds.json"),
       "thresholds.json"},
  };
  for (const auto& [arguments, mention] : cases) {
    auto result = moeprof(arguments);
    EXPECT_EQ(result.exitCode, 2) << arguments << "\n" << result.output;
    EXPECT_NE(result.output.find(mention), std::string::npos) << arguments << "\n" << result.output;
  }
}

// The CI gate in miniature (scripts/ci_gate.sh runs it at --scale cpu): reproduce --quick, a
// baseline from it, then a changed deterministic metric and a slowed dynamic-gating path each
// make the comparison exit 3.
TEST_F(CompareCommandTest, GateFiresOnChangedMetricAndSlowedDynamicGating) {
  const std::string quick = "reproduce --quick --scale tiny --threads 1 --out ";
  auto reproduced = moeprof(quick + path("q"));
  ASSERT_EQ(reproduced.exitCode, 0) << reproduced.output;
  ASSERT_TRUE(fs::exists(fs::path(path("q")) / "lm-tiny-static-b8" / "run.json"));
  ASSERT_EQ(moeprof("baseline " + path("q") + " --out " + path("base.json")).exitCode, 0);

  std::ifstream in(path("base.json"));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text.find("\"latency_ms\""), std::string::npos) << "no absolute times";
  ASSERT_NE(text.find("speedup_vs_static"), std::string::npos) << text;
  // lm-tiny static at 8 x 20 tokens: capacity 0.05 x 160 = 8 per expert, waste 8 x 8 / 320.
  const std::string waste = "\"forward.waste_factor\": 0.2";
  auto at = text.find(waste);
  ASSERT_NE(at, std::string::npos) << text;
  std::string changed = text;
  changed.replace(at, waste.size(), "\"forward.waste_factor\": 0.1");  // B wastes 2x
  std::ofstream(path("changed.json")) << changed;
  auto fired = moeprof("compare --markdown " + path("changed.json") + " " + path("q"));
  EXPECT_EQ(fired.exitCode, 3) << fired.output;
  EXPECT_NE(fired.output.find("### moeprof compare: regressed"), std::string::npos);
  EXPECT_NE(fired.output.find("| lm-tiny-static-b8/forward.waste_factor |"), std::string::npos)
      << fired.output;
  // The report against the same baseline opens with that verdict and exits 3 as well.
  auto report = moeprof("report " + path("q") + " --baseline " + path("changed.json") + " --out " +
                        path("report"));
  EXPECT_EQ(report.exitCode, 3) << report.output;
  std::ifstream html(path("report") + "/report.html");
  const std::string page((std::istreambuf_iterator<char>(html)), {});
  const auto verdict = page.find("Against " + path("changed.json") + ": regressed");
  EXPECT_NE(verdict, std::string::npos);
  EXPECT_LT(verdict, page.find("Measured beside the paper")) << "the verdicts come first";
  EXPECT_NE(page.find("lm-tiny-static-b8/forward.waste_factor"), std::string::npos);

  {
    Slowdown slowdown("experts:9");  // dynamic gating's experts phase 10x as long
    ASSERT_EQ(moeprof(quick + path("slow")).exitCode, 0);
  }
  auto slowed = moeprof("compare --markdown " + path("base.json") + " " + path("slow"));
  EXPECT_EQ(slowed.exitCode, 3) << slowed.output;
  EXPECT_NE(slowed.output.find("lm-tiny-dynamic-b8/forward.speedup_vs_static"), std::string::npos)
      << slowed.output;
}

}  // namespace
}  // namespace moeprof
