// The deployment study's rows beside the paper (reports::deploymentReproductionRows), built from
// hand-made points: every measured value and verdict derived by hand from the points' figures
// and the paper's (reports/paper_figures.json: 1.47x memory at 10 slots, 1.5x pre-gated
// throughput, 1.7x and 42x MoE block latency, +1.9% MT decoder balancing gain).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "reports/reproduction_report.h"

namespace moeprof {
namespace {

using analysis::BufferingFigures;
using analysis::DeploymentPoint;
using analysis::ReproductionVerdict;

// An MT decoder phase of mt-x at batch 48; its MoE block is `blockMs` (all in "experts").
analysis::PhasePoint decoder(const std::string& runDir, double tokensPerS, double latencyMs,
                             double blockMs) {
  analysis::PhasePoint p;
  p.runDir = runDir;
  p.preset = "mt-x";
  p.workload = "mt";
  p.gating = "dynamic";
  p.batch = 48;
  p.experts = 128;
  p.phase = "decoder";
  p.tokensPerS = tokensPerS;
  p.latencyMedianMs = latencyMs;
  p.peakWeightBytes = 2000;
  p.phaseMs = {{"experts", blockMs}, {"attention", 5}};
  return p;
}

BufferingFigures buffered(const std::string& prefetch, int64_t slots = 10) {
  BufferingFigures b;
  b.policy = "lifo";
  b.prefetch = prefetch;
  b.slotsPerLayer = slots;
  b.unbufferedWeightBytes = 3000;
  b.staticMemoryReduction = 1.5;  // 3000 / 2000
  b.stallMs = 30;
  b.bytesMoved = 1 << 20;
  b.missRate = 0.5;
  if (prefetch != "off") {
    b.prefetchPrecision = 0.8;
    b.prefetchRecall = 0.9;
  }
  return b;
}

DeploymentPoint ranked(const std::string& placement, double tokensPerS, double maxLoad) {
  return {decoder("ranks-" + placement, tokensPerS, 10, 7), std::nullopt, 2, placement, maxLoad};
}

std::vector<DeploymentPoint> handMadePoints(int64_t slots = 10) {
  return {
      {decoder("unbuffered", 1000, 10, 7), std::nullopt, 1, "roundrobin", std::nullopt},
      {decoder("ondemand", 500, 20, 17), buffered("off", slots), 1, "roundrobin", std::nullopt},
      {decoder("pregate", 800, 12.5, 10), buffered("pregate", slots), 1, "roundrobin",
       std::nullopt},
      {decoder("all", 400, 40, 30), buffered("all", slots), 1, "roundrobin", std::nullopt},
      ranked("roundrobin", 1000, 0.6),
      ranked("greedy", 1100, 0.45),
      ranked("anticorr", 990, 0.5),
  };
}

reports::ReproductionRow rowOf(const std::vector<reports::ReproductionRow>& rows,
                               const std::string& key, size_t nth = 0) {
  for (const auto& row : rows) {
    if (row.key == key && nth-- == 0) return row;
  }
  throw std::runtime_error("no row " + key);
}

TEST(DeploymentReproductionRows, OneRowPerFindingInOrder) {
  const auto rows = reports::deploymentReproductionRows(handMadePoints());
  std::vector<std::string> keys;
  for (const auto& row : rows) keys.push_back(row.key);
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "buffering_memory_gain", "buffering_latency_cost", "pregate_throughput_gain",
                      "pregate_block_gain_ondemand", "pregate_block_gain_prefetch",
                      "balancing_gain", "balancing_gain"}));
}

// 3000 / 2000 = 1.5 against 1.47: ratio 1.0204, within 25%.
TEST(DeploymentReproductionRows, BufferingMemoryAtThePapersSlots) {
  const auto& row =
      rowOf(reports::deploymentReproductionRows(handMadePoints()), "buffering_memory_gain");
  EXPECT_DOUBLE_EQ(*row.measured, 1.5);
  EXPECT_DOUBLE_EQ(*row.paper, 1.47);
  EXPECT_EQ(row.judgement.verdict, ReproductionVerdict::Reproduced);
  EXPECT_NEAR(*row.judgement.ratio, 1.5 / 1.47, 1e-12);
  EXPECT_NE(row.judgement.reason.find("10 of 128 experts per layer"), std::string::npos)
      << row.judgement.reason;
}

TEST(DeploymentReproductionRows, BufferingMemoryAtOtherSlotsIsNotComparable) {
  const auto& row =
      rowOf(reports::deploymentReproductionRows(handMadePoints(4)), "buffering_memory_gain");
  EXPECT_EQ(row.judgement.verdict, ReproductionVerdict::NotComparable);
  EXPECT_NE(row.judgement.reason.find("4 slots per layer here, 10 in the paper"), std::string::npos)
      << row.judgement.reason;
}

// 20 ms / 10 ms: a cost of 2x, the paper's direction; it gives no number.
TEST(DeploymentReproductionRows, BufferingLatencyIsACostWithoutPaperNumber) {
  const auto& row =
      rowOf(reports::deploymentReproductionRows(handMadePoints()), "buffering_latency_cost");
  EXPECT_DOUBLE_EQ(*row.measured, 2.0);
  EXPECT_FALSE(row.paper);
  EXPECT_EQ(row.judgement.verdict, ReproductionVerdict::DirectionReproduced);
  EXPECT_EQ(row.judgement.reason.rfind("the paper names a latency cost, no number", 0), 0u)
      << row.judgement.reason;
}

// Throughput 800 / 500 = 1.6 (1.067 of 1.5: reproduced); block 17 / 10 = 1.7 (exactly the
// paper's); all-prefetch 30 / 10 = 3 against 42: faster than the paper's, direction only.
TEST(DeploymentReproductionRows, PrefetchRowsFromTokensAndMoeBlock) {
  const auto rows = reports::deploymentReproductionRows(handMadePoints());
  const auto& throughput = rowOf(rows, "pregate_throughput_gain");
  EXPECT_DOUBLE_EQ(*throughput.measured, 1.6);
  EXPECT_EQ(throughput.judgement.verdict, ReproductionVerdict::Reproduced);
  EXPECT_NE(throughput.judgement.reason.find("pre-gate precision 80%, recall 90%"),
            std::string::npos)
      << throughput.judgement.reason;
  const auto& onDemand = rowOf(rows, "pregate_block_gain_ondemand");
  EXPECT_DOUBLE_EQ(*onDemand.measured, 1.7);
  EXPECT_EQ(onDemand.judgement.verdict, ReproductionVerdict::Reproduced);
  const auto& all = rowOf(rows, "pregate_block_gain_prefetch");
  EXPECT_DOUBLE_EQ(*all.measured, 3.0);
  EXPECT_EQ(all.judgement.verdict, ReproductionVerdict::DirectionReproduced);
  EXPECT_NEAR(*all.judgement.ratio, 3.0 / 42.0, 1e-12);
}

// Greedy 1100 / 1000 - 1 = +10% against +1.9%: the paper's side, stronger; anticorr 990 / 1000 -
// 1 = -1%: against the paper. The reason gives the per-pass Max Load before and after.
TEST(DeploymentReproductionRows, PlacementChangeOverRoundRobin) {
  const auto rows = reports::deploymentReproductionRows(handMadePoints());
  const auto& greedy = rowOf(rows, "balancing_gain", 0);
  EXPECT_NEAR(*greedy.measured, 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(*greedy.paper, 0.019);
  EXPECT_EQ(greedy.judgement.verdict, ReproductionVerdict::DirectionReproduced);
  EXPECT_NE(greedy.finding.find("greedy"), std::string::npos);
  EXPECT_NE(greedy.judgement.reason.find("per-pass Max Load 0.6 -> 0.45"), std::string::npos)
      << greedy.judgement.reason;
  const auto& anticorr = rowOf(rows, "balancing_gain", 1);
  EXPECT_NEAR(*anticorr.measured, -0.01, 1e-12);
  EXPECT_EQ(anticorr.judgement.verdict, ReproductionVerdict::NotReproduced);
}

TEST(DeploymentReproductionRows, NoDeploymentRunsNoRows) {
  std::vector<DeploymentPoint> unbufferedOnly = {handMadePoints().front()};
  EXPECT_TRUE(reports::deploymentReproductionRows(unbufferedOnly).empty());
}

}  // namespace
}  // namespace moeprof
