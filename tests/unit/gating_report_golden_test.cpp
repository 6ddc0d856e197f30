// Golden test: the gating report of a fixed synthetic study must match the expected file
// byte for byte. On a mismatch the rendering is written next to it as .actual and diffed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "analysis/gating_study.h"
#include "reports/gating_report.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;

analysis::PhasePoint point(std::string preset, std::string workload, std::string gating,
                           int64_t batch, std::string phase, double tokensPerS, double medianMs,
                           double waste, int64_t activation) {
  analysis::PhasePoint p;
  p.runDir = preset + "-" + gating + "-b" + std::to_string(batch);
  p.preset = std::move(preset);
  p.workload = std::move(workload);
  p.gating = std::move(gating);
  p.batch = batch;
  p.phase = std::move(phase);
  p.tokensPerS = tokensPerS;
  p.latencyMedianMs = medianMs;
  p.latencyP90Ms = medianMs * 1.1;
  p.wasteFactor = waste;
  p.droppedTokens = waste > 1 ? 17 : 0;
  p.peakActivationBytes = activation;
  p.runPeakActivationBytes = activation;
  p.phaseMs = {{"gate", medianMs * 0.1},       {"dispatch", medianMs * 0.2},
               {"experts", medianMs * 0.4},    {"combine", medianMs * 0.2},
               {"attention", medianMs * 0.05}, {"other", medianMs * 0.05}};
  return p;
}

std::vector<analysis::PhasePoint> syntheticStudy() {
  return {
      point("lm-cpu", "lm", "static", 8, "forward", 500, 4000, 12.875, 900 << 20),
      point("lm-cpu", "lm", "dynamic", 8, "forward", 5000, 400, 1.0, 64 << 20),
      point("lm-dense-cpu", "lm", "none", 8, "forward", 10000, 200, 1.0, 64 << 20),
      point("mt-cpu", "mt", "static", 48, "encoder", 512, 1500, 64.0, 700 << 20),
      point("mt-cpu", "mt", "static", 48, "decoder", 760, 58, 64.0, 700 << 20),
      point("mt-cpu", "mt", "dynamic", 48, "encoder", 13800, 55, 1.0, 21 << 20),
      point("mt-cpu", "mt", "dynamic", 48, "decoder", 4000, 11.3, 1.0, 21 << 20),
  };
}

TEST(GatingReportGolden, MarkdownMatchesExpected) {
  const fs::path expectedPath = fs::path(MOEPROF_SOURCE_DIR) / "tests/golden/gating_report.md";
  std::string actual = reports::gatingReportMarkdown("golden study", syntheticStudy());
  std::ifstream in(expectedPath);
  std::stringstream expected;
  expected << in.rdbuf();
  if (actual == expected.str()) return;
  const fs::path actualPath = expectedPath.string() + ".actual";
  std::ofstream(actualPath) << actual;
  std::string diff = "diff -u '" + expectedPath.string() + "' '" + actualPath.string() + "'";
  [[maybe_unused]] int ignored = std::system(diff.c_str());
  FAIL() << "report differs from " << expectedPath << "; the rendering is in " << actualPath
         << " (copy it over the expected file if the change is intended)";
}

// The golden file above was written by the code it checks; these are the same study's numbers
// worked out by hand from the points (tokens/s ratios, activation bytes, latency ratios).
TEST(GatingReportGolden, HandDerivedNumbersOfTheSyntheticStudy) {
  const auto gains = analysis::gatingGains(syntheticStudy());
  ASSERT_EQ(gains.size(), 3u);
  EXPECT_DOUBLE_EQ(gains[0].throughputGain, 5000.0 / 500.0);    // lm forward: 10x
  EXPECT_DOUBLE_EQ(gains[0].activationChange, 64.0 / 900 - 1);  // -92.9%
  EXPECT_DOUBLE_EQ(gains[1].throughputGain, 13800.0 / 512.0);   // mt encoder: 26.95x
  EXPECT_DOUBLE_EQ(gains[1].activationChange, 21.0 / 700 - 1);  // -97%
  EXPECT_DOUBLE_EQ(gains[2].throughputGain, 4000.0 / 760.0);    // mt decoder: 5.26x
  const auto gaps = analysis::denseGaps(syntheticStudy());
  ASSERT_EQ(gaps.size(), 1u);  // only the LM has a dense counterpart
  EXPECT_DOUBLE_EQ(gaps[0].latencyRatio, 4000.0 / 200.0);
  // The rendering prints them rounded as worked out above.
  const std::string report = reports::gatingReportMarkdown("golden study", syntheticStudy());
  for (const char* value : {"10.00x", "-92.9%", "26.95x", "-97%", "5.26x", "20.00x"}) {
    EXPECT_NE(report.find(value), std::string::npos) << value;
  }
}

TEST(DenseGaps, OnlyBetweenModelsOfTheSameDepthAndWidth) {
  auto moe = point("lm-cpu", "lm", "static", 8, "forward", 500, 4000, 12.875, 900 << 20);
  auto trained = point("lm (trained)", "lm", "static", 8, "forward", 900, 80, 12.875, 90 << 20);
  auto dense = point("lm-dense-cpu", "lm", "none", 8, "forward", 10000, 200, 1.0, 64 << 20);
  moe.layers = dense.layers = 24;
  moe.dModel = dense.dModel = trained.dModel = 64;
  trained.layers = 4;
  auto gaps = analysis::denseGaps({moe, trained, dense});
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].moeRun.preset, "lm-cpu");
  EXPECT_DOUBLE_EQ(gaps[0].latencyRatio, 20.0);
}

}  // namespace
}  // namespace moeprof
