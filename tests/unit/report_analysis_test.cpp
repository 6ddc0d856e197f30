// What reports chart, computed in analysis/ on hand-worked inputs: static gating's padding and
// drops per expert and batch, the thinned memory timeline, tokens per device per placement;
// and the report's chart descriptions of them (cells, bars and labels).
#include <gtest/gtest.h>

#include "analysis/capacity_usage.h"
#include "analysis/device_loads.h"
#include "analysis/memory_timeline.h"
#include "analysis/routing_statistics.h"
#include "reports/report_charts.h"
#include "tests/support/input_error.h"

namespace moeprof {
namespace {

using collector::kDroppedFlag;

// One LM layer, 4 experts, top-1. Batch 0: 4 tokens, C = ceil(0.5 x 4) = 2; the router sends 3
// to expert 0 (the third is dropped) and 1 to expert 1. Batch 1: 2 tokens, C = 1, experts 2, 3.
collector::RoutingLog handWorkedLog() {
  collector::RoutingLog log;
  log.header = {"hand", 4, 1, {{collector::LayerStack::Lm, 1}}};
  log.records.push_back({0, 0, 0, 4, {0, 0, uint16_t(0 | kDroppedFlag), 1}, {1, 1, 1, 1}});
  log.records.push_back({1, 0, 0, 2, {2, 3}, {1, 1}});
  return log;
}

TEST(CapacityUsageTest, HandWorkedPaddingAndDrops) {
  const auto usage = analysis::capacityUsage(handWorkedLog(), {0.5, "eval"});
  ASSERT_EQ(usage.perExpert.size(), 4u);
  // Expert 0: batch 0 keeps 2 of 3 (1 dropped, no padding), batch 1 pads its 1 slot.
  EXPECT_EQ(usage.perExpert[0].kept, 2u);
  EXPECT_EQ(usage.perExpert[0].dropped, 1u);
  EXPECT_EQ(usage.perExpert[0].padding, 1u);
  // Expert 2: batch 0 pads 2 slots, batch 1 keeps its one token.
  EXPECT_EQ(usage.perExpert[2].kept, 1u);
  EXPECT_EQ(usage.perExpert[2].padding, 2u);
  ASSERT_EQ(usage.batches, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(usage.perBatch[0].kept, 3u);
  EXPECT_EQ(usage.perBatch[0].dropped, 1u);
  EXPECT_EQ(usage.perBatch[0].padding, 5u);  // 8 slots, 3 kept
  EXPECT_EQ(usage.perBatch[1].slots(), 4u);  // 4 experts x C = 1
  EXPECT_EQ(usage.total.slots(), 12u);
  EXPECT_EQ(usage.perStack.at(collector::LayerStack::Lm).dropped, 1u);
}

TEST(CapacityUsageTest, TrainRuleAndBadInput) {
  // Train rule: C = ceil(CF x k x S / E) = ceil(2 x 1 x 4 / 4) = 2 for batch 0.
  EXPECT_EQ(analysis::capacityUsage(handWorkedLog(), {2.0, "train"}).perBatch[0].slots(), 8u);
  EXPECT_NE(testing::inputErrorMessage([] {
              analysis::capacityUsage(handWorkedLog(), {1.0, "other"});
            }).find("'other'"),
            std::string::npos);
  // With C = 1 batch 0 would keep 2 tokens on expert 0: not static gating at that capacity.
  EXPECT_NE(testing::inputErrorMessage([] {
              analysis::capacityUsage(handWorkedLog(), {0.25, "eval"});
            }).find("over its capacity"),
            std::string::npos);
}

TEST(MemoryTimelineTest, ThinningKeepsThePeak) {
  collector::Trace trace;
  for (int i = 0; i < 10000; ++i) {
    collector::MemoryEvent e;
    e.timestampNs = 1000 + i * 10;
    e.totalAllocatedBytes = (i == 6789) ? 1'000'000 : i % 100;
    trace.memory.push_back(e);
  }
  collector::MemoryEvent cuda;
  cuda.deviceType = 1;
  cuda.deviceIndex = 0;
  cuda.timestampNs = 5000;
  cuda.totalAllocatedBytes = 42;
  trace.memory.push_back(cuda);
  const auto timelines = analysis::memoryTimelines(trace, 100);
  ASSERT_EQ(timelines.size(), 2u);
  const auto& cpu = timelines[0];
  EXPECT_EQ(cpu.events, 10000);
  EXPECT_EQ(cpu.peakAllocatedBytes, 1'000'000);
  EXPECT_EQ(cpu.peakTimeNs, 67890);
  EXPECT_LE(cpu.samples.size(), 100u);
  bool peakKept = false;
  for (const auto& s : cpu.samples) peakKept = peakKept || s.allocatedBytes == 1'000'000;
  EXPECT_TRUE(peakKept);
  for (size_t i = 1; i < cpu.samples.size(); ++i) {
    EXPECT_LE(cpu.samples[i - 1].timeNs, cpu.samples[i].timeNs);
  }
  EXPECT_EQ(timelines[1].deviceType, 1);
  EXPECT_EQ(timelines[1].samples.size(), 1u);
}

TEST(DeviceLoadsTest, GreedySplitsWhatRoundRobinPilesUp) {
  analysis::RoutingLoads loads;
  loads.numExperts = 4;
  loads.topK = 1;
  analysis::LayerLoads layer;
  layer.tokens = {{10, 0, 10, 0}, {10, 0, 10, 0}, {10, 0, 10, 0}, {6, 0, 2, 0}};
  layer.rows = {{0, 0}, {1, 0}, {2, 0}, {3, 0}};
  loads.layers.push_back(layer);
  // Evaluation half: rows {10,0,10,0} and {6,0,2,0}, 28 tokens.
  const auto rr = analysis::deviceLoads(loads, analysis::parsePlacementSpec("roundrobin"), 2,
                                        collector::LayerStack::Lm);
  EXPECT_EQ(rr.tokens, (std::vector<double>{28, 0}));
  EXPECT_DOUBLE_EQ(rr.meanPerPassMaxLoad, 1.0);
  EXPECT_DOUBLE_EQ(rr.meanPooledMaxLoad, 1.0);
  const auto greedy = analysis::deviceLoads(loads, analysis::parsePlacementSpec("greedy"), 2,
                                            collector::LayerStack::Lm);
  EXPECT_EQ(greedy.tokens, (std::vector<double>{16, 12}));
  // Experts 0 and 2 on different devices: passes 10/20 and 6/8 busiest, 16/28 pooled.
  EXPECT_DOUBLE_EQ(greedy.meanPerPassMaxLoad, 0.75);
  EXPECT_DOUBLE_EQ(greedy.meanPerPassAvgMaxLoad, (0.5 + 0.75) / 2);
  EXPECT_DOUBLE_EQ(greedy.meanPooledMaxLoad, 16.0 / 28.0);
  EXPECT_NE(testing::inputErrorMessage([&] {
              analysis::deviceLoads(loads, analysis::parsePlacementSpec("greedy"), 2,
                                    collector::LayerStack::Decoder);
            }).find("decoder"),
            std::string::npos);

  const auto chart = reports::placementChart({rr, greedy}, "hand");
  EXPECT_EQ(chart.x.categories, (std::vector<std::string>{"0", "1"}));
  ASSERT_EQ(chart.series.size(), 2u);
  EXPECT_EQ(chart.series[1].name, "greedy: Max Load 0.75, Avg Max Load 0.625, pooled 0.571");
  ASSERT_EQ(chart.referenceLines.size(), 1u);
  EXPECT_DOUBLE_EQ(chart.referenceLines[0].y, 14.0);
}

TEST(ReportChartsTest, HeatmapsOfAHandWorkedLog) {
  auto log = handWorkedLog();
  log.header.layers.push_back({collector::LayerStack::Lm, 3});
  // Batch 0's second layer, in execution order (before batch 1).
  log.records.insert(log.records.begin() + 1, {0, 1, 0, 2, {3, 3}, {1, 1}});
  const auto loads = analysis::routingLoads(log);
  const auto pass = reports::passHeatmap(loads, "hand");
  EXPECT_EQ(pass.heatmap.rows, 2u);
  EXPECT_EQ(pass.heatmap.columns, 4u);
  EXPECT_EQ(pass.y.categories, (std::vector<std::string>{"lm 1", "lm 3"}));
  // Batch 0: layer 0 has 3 assignments to expert 0 (one dropped) and 1 to expert 1.
  EXPECT_EQ(pass.heatmap.values, (std::vector<double>{3, 1, 0, 0, 0, 0, 0, 2}));

  const auto statistics = analysis::routingStatistics(log);
  const auto layer = reports::layerPassHeatmap(loads, statistics, "hand");
  EXPECT_EQ(layer.title, "Tokens per expert and pass, MoE layer lm 1");  // 2 passes
  EXPECT_EQ(layer.x.categories, (std::vector<std::string>{"b0", "b1"}));
  EXPECT_EQ(layer.heatmap.rows, 4u);
  EXPECT_EQ(layer.heatmap.values, (std::vector<double>{3, 0, 1, 0, 0, 1, 0, 1}));

  const auto usage = analysis::capacityUsage(handWorkedLog(), {0.5, "eval"});
  const auto perExpert = reports::capacityPerExpertChart(usage, "hand");
  ASSERT_EQ(perExpert.series.size(), 3u);
  EXPECT_EQ(charts::markCount(perExpert), 12u);
  EXPECT_EQ(perExpert.series[2].data[0].y, 1.0);  // expert 0's dropped assignment
  const auto perBatch = reports::capacityPerBatchChart(usage, "hand");
  EXPECT_EQ(perBatch.x.categories, (std::vector<std::string>{"0", "1"}));
}

TEST(ReportChartsTest, WideExpertBarsAreBinned) {
  analysis::CapacityUsage usage;
  usage.numExperts = 512;
  usage.perExpert.assign(512, {1, 0, 1});
  const auto chart = reports::capacityPerExpertChart(usage, "wide");
  EXPECT_EQ(chart.x.categories.size(), 64u);
  EXPECT_EQ(chart.x.categories.front(), "0-7");
  EXPECT_EQ(chart.x.label, "expert (bins of 8, summed)");
  EXPECT_EQ(chart.series[0].data[0].y, 8.0);
}

}  // namespace
}  // namespace moeprof
