#include "analysis/cache_simulation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "collector/routing_log.h"
#include "collector/run_manifest.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"

namespace moeprof::analysis {
namespace {

namespace fs = std::filesystem;
using collector::kDroppedFlag;

class CacheSimulationTest : public moeprof::testing::TempDirTest {
 protected:
  // 4 experts, top-2, 2 MoE layers, 3 batches. Layer 0 needs all four experts every batch;
  // layer 1 needs {0,1}, and in batch 1 a dropped assignment to expert 2 must not count.
  static collector::RoutingLog makeLog() {
    collector::RoutingLog log;
    log.header.model = "mt-test";
    log.header.numExperts = 4;
    log.header.topK = 2;
    log.header.layers = {{collector::LayerStack::Encoder, 0}, {collector::LayerStack::Decoder, 0}};
    auto record = [](uint32_t batch, uint32_t layer, std::vector<uint16_t> experts) {
      collector::RoutingRecord r;
      r.batch = batch;
      r.moeLayer = layer;
      r.numTokens = static_cast<uint32_t>(experts.size() / 2);
      r.gateWeights.assign(experts.size(), 0.5f);
      r.experts = std::move(experts);
      return r;
    };
    for (uint32_t batch = 0; batch < 3; ++batch) {
      log.records.push_back(record(batch, 0, {3, 1, 2, 0, 1, 3}));
      if (batch == 1) {
        log.records.push_back(record(batch, 1, {2 | kDroppedFlag, 0, 1, 0}));
      } else {
        log.records.push_back(record(batch, 1, {1, 0, 0, 1}));
      }
    }
    return log;
  }

  fs::path writeRun(const collector::RoutingLog& log) {
    fs::path run = dir_ / "run";
    fs::create_directories(run);
    collector::RoutingLogWriter writer(run / collector::kRoutingLogFileName, log.header);
    for (const auto& record : log.records) writer.append(record);
    writer.flush();
    return run;
  }

  static const MissRatePoint& point(const CacheSimulation& simulation, size_t policy, size_t slot) {
    return simulation.curves.at(policy).points.at(slot);
  }
};

TEST_F(CacheSimulationTest, BuildsSortedDistinctExpertsPerBatchAndLayer) {
  auto layer = buildAccessTraces(makeLog(), CacheScope::Layer);
  ASSERT_EQ(layer.size(), 2u);
  EXPECT_EQ(layer[0].keys, (std::vector<ExpertKey>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(layer[0].batchStarts, (std::vector<uint64_t>{0, 4, 8, 12}));
  EXPECT_EQ(layer[1].keys, (std::vector<ExpertKey>{0, 1, 0, 1, 0, 1}));  // dropped 2 left out
  auto global = buildAccessTraces(makeLog(), CacheScope::Global);
  ASSERT_EQ(global.size(), 1u);
  // Layer 1's experts are keys 4 + id; every record is a batch of its own.
  EXPECT_EQ(global[0].keys,
            (std::vector<ExpertKey>{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(global[0].numBatches(), 6u);
}

TEST_F(CacheSimulationTest, ReplaysARoutingLogWithExactMisses) {
  collector::RoutingLog log = collector::readRoutingLog(writeRun(makeLog()) / "routing.bin");
  auto simulation = simulateCaches(log, {"lifo", "fifo", "belady"}, {2, 3}, CacheScope::Layer);
  ASSERT_EQ(simulation.curves.size(), 3u);
  EXPECT_EQ(simulation.numRecords, 6u);
  // Layer 1 ({0,1} three times) costs 2 compulsory misses at 2 or 3 slots for every policy.
  // Layer 0 at 3 slots (see ExpertCacheTest.LifoBeatsFifoWhenExpertsRunInIdOrder): LIFO 8,
  // FIFO 12, MIN 6. At 2 slots, LIFO: batch 1 0 1 2 3 all miss ({0,3} left); batches 2 and 3:
  // 0 hits, 1 2 3 miss: 4 + 3 + 3 = 10.
  EXPECT_EQ(point(simulation, 0, 0).slots, 2u);
  EXPECT_EQ(point(simulation, 0, 0).counts.accesses, 18u);
  EXPECT_EQ(point(simulation, 0, 0).counts.misses, 10u + 2u);
  EXPECT_EQ(point(simulation, 0, 1).counts.misses, 8u + 2u);
  EXPECT_EQ(point(simulation, 1, 1).counts.misses, 12u + 2u);
  EXPECT_EQ(point(simulation, 2, 1).counts.misses, 6u + 2u);
  EXPECT_DOUBLE_EQ(point(simulation, 2, 1).counts.missRate(), 8.0 / 18.0);
  EXPECT_EQ(point(simulation, 2, 1).counts.evictions, 6u - 3u);  // layer 1 never evicts
}

TEST_F(CacheSimulationTest, GlobalScopeSharesOnePoolAcrossLayers) {
  // slots 2 x 2 layers = 4 slots over the cycle 0 1 2 3 | 4 5 (one batch per record).
  // LIFO: after 0-3 fill the pool, 4 evicts 3 and 5 evicts 2 (inactive, latest in); layer 0
  // then misses 2 (evicting 5) and 3 (evicting 4), and so on: 4 + 2 + 2 + 2 + 2 + 2 = 14.
  // FIFO misses everything (18); MIN: 4 + 2 + 2 + 2 = 10.
  auto simulation = simulateCaches(makeLog(), {"lifo", "fifo", "belady"}, {2}, CacheScope::Global);
  EXPECT_EQ(point(simulation, 0, 0).counts.misses, 14u);
  EXPECT_EQ(point(simulation, 1, 0).counts.misses, 18u);
  EXPECT_EQ(point(simulation, 2, 0).counts.misses, 10u);
  EXPECT_EQ(point(simulation, 2, 0).counts.accesses, 18u);
}

TEST_F(CacheSimulationTest, BadSlotCountsAndPoliciesAreInputErrors) {
  auto log = makeLog();
  std::string message = moeprof::testing::inputErrorMessage(
      [&] { simulateCaches(log, {"lifo"}, {1}, CacheScope::Layer); });
  EXPECT_NE(message.find("slot count 1"), std::string::npos) << message;
  EXPECT_NE(message.find("2 (topK) to 4"), std::string::npos) << message;
  message = moeprof::testing::inputErrorMessage(
      [&] { simulateCaches(log, {"lifo"}, {5}, CacheScope::Layer); });
  EXPECT_NE(message.find("slot count 5"), std::string::npos) << message;
  message = moeprof::testing::inputErrorMessage([&] {
    simulateCaches(log, {"lifo", "mru"}, {2}, CacheScope::Layer);
  });
  EXPECT_NE(message.find("'mru'"), std::string::npos) << message;
  message = moeprof::testing::inputErrorMessage([] { parseCacheScope("device"); });
  EXPECT_NE(message.find("'device'"), std::string::npos) << message;
}

TEST_F(CacheSimulationTest, JsonAndCsvCarryEveryPoint) {
  auto simulation = simulateCaches(makeLog(), {"lifo", "belady"}, {2, 3}, CacheScope::Layer);
  auto json = nlohmann::json::parse(cacheSimulationJson(simulation));
  EXPECT_EQ(json["scope"], "layer");
  ASSERT_EQ(json["policies"].size(), 2u);
  EXPECT_EQ(json["policies"][1]["policy"], "belady");
  EXPECT_EQ(json["policies"][1]["points"][1]["misses"], 8);
  std::string csv = cacheSimulationCsv(simulation);
  EXPECT_EQ(csv.rfind("policy,slots,accesses,misses,evictions,miss_rate\n", 0), 0u);
  EXPECT_NE(csv.find("lifo,2,18,12,"), std::string::npos) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
}

TEST_F(CacheSimulationTest, SimulateCommandReplaysARecordedRun) {
  auto run = moeprof::testing::runMoeprof("run --preset mt-tiny --repeats 1 --out " + path("mt"));
  ASSERT_EQ(run.exitCode, 0) << run.output;
  auto result = moeprof::testing::runMoeprof("simulate " + path("mt") +
                                             " --cache lifo,belady --slots 1..4 --json " +
                                             path("sim.json") + " --csv " + path("sim.csv"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NE(result.output.find("lifo"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("belady"), std::string::npos) << result.output;
  // mt-tiny routes top-2 over 8 experts, so the range keeps 2..4 and says so.
  EXPECT_NE(result.output.find("simulates 2..4"), std::string::npos) << result.output;
  std::ifstream in(path("sim.json"));
  auto json = nlohmann::json::parse(in)["cache"];
  ASSERT_EQ(json["policies"].size(), 2u);
  ASSERT_EQ(json["policies"][0]["points"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto& lifo = json["policies"][0]["points"][i];
    const auto& belady = json["policies"][1]["points"][i];
    EXPECT_EQ(lifo["slots"], i + 2);
    EXPECT_GT(lifo["accesses"].get<uint64_t>(), 0u);
    EXPECT_LE(belady["misses"].get<uint64_t>(), lifo["misses"].get<uint64_t>());
  }
  EXPECT_TRUE(fs::exists(path("sim.csv")));
}

TEST_F(CacheSimulationTest, SimulateCommandRejectsBadInputWithExitCode2) {
  fs::path run = writeRun(makeLog());
  struct Case {
    std::string arguments, mentions;
  };
  for (const Case& bad : std::vector<Case>{{"--slots 4..2", "'4..2'"},
                                           {"--slots x", "'x'"},
                                           {"--slots 2,,3", "'2,,3'"},
                                           {"--slots 1", "slot count 1"},
                                           {"--slots 6..9", "'6..9'"},
                                           {"--cache lifo,mru", "'mru'"},
                                           {"--scope device", "'device'"}}) {
    auto result = moeprof::testing::runMoeprof("simulate " + run.string() + " " + bad.arguments +
                                               " --json " + path("bad.json"));
    EXPECT_EQ(result.exitCode, 2) << bad.arguments << ": " << result.output;
    EXPECT_NE(result.output.find(bad.mentions), std::string::npos) << result.output;
    EXPECT_FALSE(fs::exists(path("bad.json"))) << bad.arguments;
  }
  auto missing = moeprof::testing::runMoeprof("simulate " + path("nowhere"));
  EXPECT_EQ(missing.exitCode, 2) << missing.output;
  EXPECT_NE(missing.output.find("routing.bin"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace moeprof::analysis
