// Expert Buffering over time from a trace (analysis/cache_timeline.h): counts, bytes and stalls
// per batch and layer on a hand-made trace, the batch and pass filters, the report's heatmaps, and
// a real buffered run whose trace adds up to its run.json metrics.
#include "analysis/cache_timeline.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/trace_loader.h"
#include "collector/routing_log.h"
#include "reports/report_charts.h"
#include "tests/support/moeprof_command.h"

namespace moeprof::analysis {
namespace {

using collector::CacheAction;
using collector::CacheEvent;
using collector::TransferEvent;

// Batch 0: layer 0 misses expert 3 (transfer 1, 100 bytes over 10 ns) and hits expert 5, then
// waits 7 ns; layer 1 misses expert 2 (transfer 2, 40 bytes over 4 ns) and prefetches for
// batch 1 (transfer 3, 60 bytes). Batch 1: layer 0 hits twice, evicts once, waits 5 ns.
// A probe's read (transfer 9, no cache event) and another range are not counted.
collector::Trace handMadeTrace() {
  collector::Trace t;
  t.cache = {CacheEvent{100, 0, 0, 3, 0, CacheAction::Miss, 1},
             CacheEvent{101, 0, 0, 5, 1, CacheAction::Hit, 0},
             CacheEvent{200, 0, 1, 2, 0, CacheAction::Miss, 2},
             CacheEvent{210, 0, 1, 6, 1, CacheAction::Prefetch, 3},
             CacheEvent{300, 1, 0, 6, 1, CacheAction::Hit, 0},
             CacheEvent{301, 1, 0, 3, 0, CacheAction::Hit, 0},
             CacheEvent{302, 1, 0, 1, 0, CacheAction::Evict, 0}};
  auto transfer = [](uint64_t id, int64_t start, int64_t end, int64_t bytes) {
    TransferEvent e;
    e.transferId = id;
    e.startNs = start;
    e.endNs = end;
    e.bytes = bytes;
    return e;
  };
  t.transfers = {transfer(1, 100, 110, 100), transfer(2, 200, 204, 40), transfer(3, 210, 220, 60),
                 transfer(9, 0, 50, 1000)};
  t.ranges = {collector::RangeEvent{102, 109, 1, "moeprof", kExpertStallRange, false},
              collector::RangeEvent{303, 308, 1, "moeprof", kExpertStallRange, false},
              collector::RangeEvent{150, 190, 1, "moeprof", "experts", false}};
  return t;
}

TEST(CacheTimelineTest, CountsBytesAndStallsPerBatchAndLayer) {
  const auto timeline = cacheTimeline(handMadeTrace());
  EXPECT_EQ(timeline.batches, 2u);
  EXPECT_EQ(timeline.layers, 2u);
  ASSERT_EQ(timeline.steps.size(), 3u);
  const CacheStep& first = timeline.steps[0];
  EXPECT_EQ(std::make_pair(first.batch, first.moeLayer), std::make_pair(0u, 0u));
  EXPECT_EQ(first.hits, 1);
  EXPECT_EQ(first.misses, 1);
  EXPECT_EQ(first.bytesMoved, 100);
  EXPECT_EQ(first.transferNs, 10);
  EXPECT_EQ(first.stallNs, 7);
  EXPECT_DOUBLE_EQ(first.missRate(), 0.5);
  const CacheStep& second = timeline.steps[1];
  EXPECT_EQ(std::make_pair(second.batch, second.moeLayer), std::make_pair(0u, 1u));
  EXPECT_EQ(second.misses, 1);
  EXPECT_EQ(second.prefetches, 1);
  EXPECT_EQ(second.bytesMoved, 100);  // the miss's 40 and the prefetch's 60
  EXPECT_EQ(second.stallNs, 0);
  const CacheStep& third = timeline.steps[2];
  EXPECT_EQ(std::make_pair(third.batch, third.moeLayer), std::make_pair(1u, 0u));
  EXPECT_EQ(third.hits, 2);
  EXPECT_EQ(third.evictions, 1);
  EXPECT_EQ(third.bytesMoved, 0);
  EXPECT_EQ(third.stallNs, 5);
}

TEST(CacheTimelineTest, OnlyBatchesKeepsTheShape) {
  const auto part = onlyBatches(cacheTimeline(handMadeTrace()), {1});
  EXPECT_EQ(part.batches, 2u);
  EXPECT_EQ(part.layers, 2u);
  ASSERT_EQ(part.steps.size(), 1u);
  EXPECT_EQ(part.steps[0].batch, 1u);
  EXPECT_TRUE(cacheTimeline(collector::Trace{}).empty());
}

TEST(CacheTimelineTest, ReportHeatmapsHoldEachStepInItsCell) {
  const auto charts = reports::cacheTimelineCharts(cacheTimeline(handMadeTrace()), "run");
  ASSERT_EQ(charts.size(), 4u);
  EXPECT_EQ(charts[0].id, "cache-misses-run");
  EXPECT_EQ(charts[0].heatmap.values, (std::vector<double>{1, 0, 1, 0}));  // layer x batch
  EXPECT_EQ(charts[1].id, "cache-hits-run");
  EXPECT_EQ(charts[1].heatmap.values, (std::vector<double>{1, 2, 0, 0}));
  EXPECT_EQ(charts[2].id, "cache-stall-run");
  EXPECT_DOUBLE_EQ(charts[2].heatmap.at(0, 0), 7e-6);
  EXPECT_DOUBLE_EQ(charts[2].heatmap.at(0, 1), 5e-6);
  EXPECT_EQ(charts[3].id, "cache-bytes-run");
  EXPECT_DOUBLE_EQ(charts[3].heatmap.at(1, 0), 100.0 / (1 << 20));
  EXPECT_NE(charts[0].caption.find("3 hits, 2 misses"), std::string::npos) << charts[0].caption;
  EXPECT_TRUE(reports::cacheTimelineCharts(CacheTimeline{}, "run").empty());
}

TEST(RoutingPassFilterTest, OnlyPassesKeepsTheRecordsOfThosePasses) {
  collector::RoutingLog log;
  log.header.model = "m";
  for (uint32_t batch : {0u, 1u}) {
    for (uint32_t step : {0u, 1u}) log.records.push_back({batch, 0, step, 0, {}, {}});
  }
  const auto part = collector::onlyPasses(log, {{1, 0}, {0, 1}});
  EXPECT_EQ(part.header, log.header);
  ASSERT_EQ(part.records.size(), 2u);
  EXPECT_EQ(std::make_pair(part.records[0].batch, part.records[0].step), std::make_pair(0u, 1u));
  EXPECT_EQ(std::make_pair(part.records[1].batch, part.records[1].step), std::make_pair(1u, 0u));
}

// The trace of a buffered run counts what its metrics count: measured batches only (the warm-up
// batch's lookups are not logged).
class CacheTimelineRunTest : public testing::TempDirTest {};

TEST_F(CacheTimelineRunTest, ABufferedRunsTraceAddsUpToItsMetrics) {
  const auto run = dir_ / "buffered";
  const auto result = testing::runMoeprof(
      "run --preset lm-tiny --gating dynamic --buffering lifo --cache-slots 3 --repeats 3 "
      "--warmup 1 --trace ops --out " +
      run.string());
  ASSERT_EQ(result.exitCode, 0) << result.output;
  const auto metrics =
      nlohmann::json::parse(std::ifstream(run / "run.json"))["metrics"]["buffering"];
  const auto timeline = cacheTimeline(loadRankTraces(run).front().trace);
  EXPECT_EQ(timeline.batches, 3u);
  int64_t hits = 0, misses = 0;
  for (const auto& step : timeline.steps) {
    hits += step.hits;
    misses += step.misses;
  }
  EXPECT_EQ(hits, metrics["hits"].get<int64_t>());
  EXPECT_EQ(misses, metrics["misses"].get<int64_t>());
  EXPECT_GT(misses, 0);
}

}  // namespace
}  // namespace moeprof::analysis
