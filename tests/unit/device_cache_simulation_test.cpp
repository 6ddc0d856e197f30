// Per-device Expert Buffering under a placement: hand-computed replays, the judged half beside
// the single-device replay, `moeprof simulate --cache --placement --devices` on the MT decoder
// fixture, and a live `--ranks 2 --buffering` run counting what the replay counts per rank.
#include "analysis/device_cache_simulation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "collector/routing_log.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"

namespace moeprof::analysis {
namespace {

namespace fs = std::filesystem;
using moeprof::testing::inputErrorMessage;

// One LM layer, 4 experts, top-1: one record per pass, one token per needed expert.
collector::RoutingLog topOneLog(const std::vector<std::vector<uint16_t>>& passes) {
  collector::RoutingLog log;
  log.header.model = "lm-test";
  log.header.numExperts = 4;
  log.header.topK = 1;
  log.header.layers = {{collector::LayerStack::Lm, 0}};
  for (uint32_t b = 0; b < passes.size(); ++b) {
    collector::RoutingRecord r;
    r.batch = b;
    r.experts = passes[b];
    r.numTokens = static_cast<uint32_t>(passes[b].size());
    r.gateWeights.assign(passes[b].size(), 1.0f);
    log.records.push_back(std::move(r));
  }
  return log;
}

TEST(DeviceCacheReplay, EachDeviceReplaysOnlyItsOwnExpertsThroughItsOwnSlots) {
  // Passes need {0,1}, {0,2}, {0,1}, {2,3}. One LRU slot per device.
  const auto log = topOneLog({{1, 0}, {2, 0}, {0, 1}, {3, 2}});
  // Round-robin: d0 holds 0 and 2, d1 holds 1 and 3.
  //   d0 sees 0 | 0 2 | 0 | 2: miss, hit, miss, miss, miss = 4 of 5
  //   d1 sees 1 | - | 1 | 3:   miss, hit, miss         = 2 of 3
  auto counts = replayDeviceCaches(log, {roundRobinPlacement(4, 2)}, "lru", 1);
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0].accesses, 5u);
  EXPECT_EQ(counts[0].misses, 4u);
  EXPECT_EQ(counts[1].accesses, 3u);
  EXPECT_EQ(counts[1].misses, 2u);
  EXPECT_EQ(counts[1].evictions, 1u);
  // 0 and 1 on d0, 2 and 3 on d1 (experts run in id order, so d0 ends a pass on 1):
  //   d0 sees 0 1 | 0 | 0 1 | -: miss, miss, miss, hit, miss = 4 of 5
  //   d1 sees - | 2 | - | 2 3:   miss, hit, miss             = 2 of 3
  Placement split(2, {{0}, {0}, {1}, {1}});
  counts = replayDeviceCaches(log, {split}, "lru", 1);
  EXPECT_EQ(counts[0].accesses, 5u);
  EXPECT_EQ(counts[0].misses, 4u);
  EXPECT_EQ(counts[1].misses, 2u);
  // Skipping the first two passes: d0 sees 0 1 | - (2 misses), d1 - | 2 3 (2 misses).
  counts = replayDeviceCaches(log, {split}, "lru", 1, {2});
  EXPECT_EQ(counts[0].accesses, 2u);
  EXPECT_EQ(counts[0].misses, 2u);
  EXPECT_EQ(counts[1].misses, 2u);
}

TEST(DeviceCacheReplay, ReplicasAndMismatchedPlacementsAreInputErrors) {
  const auto log = topOneLog({{1, 0}, {2, 0}});
  std::string message = inputErrorMessage([&] {
    replayDeviceCaches(log, {Placement(2, {{0, 1}, {0}, {1}, {1}})}, "lru", 1);
  });
  EXPECT_NE(message.find("replicas"), std::string::npos) << message;
  message =
      inputErrorMessage([&] { replayDeviceCaches(log, {roundRobinPlacement(8, 2)}, "lru", 1); });
  EXPECT_NE(message.find("8 experts"), std::string::npos) << message;
  message = inputErrorMessage([&] {
    simulateDeviceCaches(log, {"lifo"}, {1}, {parsePlacementSpec("eplb")}, {2},
                         DeviceReplay::Judged);
  });
  EXPECT_NE(message.find("'eplb'"), std::string::npos) << message;
  message = inputErrorMessage([] { parseDeviceReplay("half"); });
  EXPECT_NE(message.find("'half'"), std::string::npos) << message;
}

TEST(DeviceCacheSimulation, JudgedHalfBesideOneDeviceOnTheSamePasses) {
  // 8 passes; greedy is chosen on the first 4 and the caches replay the last 4.
  const auto log = topOneLog({{0, 0, 1},
                              {0, 0, 2},
                              {0, 3},
                              {0, 1},  // history: 0 hot
                              {0, 1},
                              {2, 3},
                              {0, 2},
                              {1, 3}});
  auto simulation = simulateDeviceCaches(
      log, {"lifo", "lru"}, {1, 2},
      {parsePlacementSpec("roundrobin"), parsePlacementSpec("greedy")}, {2}, DeviceReplay::Judged);
  EXPECT_EQ(simulation.replayedRecords, 4u);
  ASSERT_EQ(simulation.outcomes.size(), 2u * 2u * 1u * 2u);
  // The judged passes alone, through one cache per layer: what simulateCaches counts.
  collector::RoutingLog judged = log;
  judged.records.erase(judged.records.begin(), judged.records.begin() + 4);
  for (const DeviceCacheOutcome& o : simulation.outcomes) {
    SCOPED_TRACE(o.policy + " " + o.placement + " slots " + std::to_string(o.slots));
    ASSERT_EQ(o.perDevice.size(), 2u);
    auto single = simulateCaches(judged, {o.policy}, {o.slots}, CacheScope::Layer);
    EXPECT_EQ(o.oneDevice.misses, single.curves[0].points[0].counts.misses);
    // Every needed expert is accessed once, on its device, whatever the placement.
    EXPECT_EQ(o.total.accesses, o.oneDevice.accesses);
    EXPECT_EQ(o.total.misses, o.perDevice[0].misses + o.perDevice[1].misses);
  }
  auto json = nlohmann::json::parse(deviceCacheSimulationJson(simulation));
  EXPECT_EQ(json["replay"], "judged");
  EXPECT_EQ(json["outcomes"][0]["per_device"].size(), 2u);
  auto csv = deviceCacheSimulationCsv(simulation);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 8 * (2 + 2));
}

class DeviceCacheCommandTest : public moeprof::testing::TempDirTest {};

TEST_F(DeviceCacheCommandTest, SimulateGivesPerGpuMissRatesOnTheMtDecoderFixture) {
  const std::string fixture = std::string(MOEPROF_SOURCE_DIR) + "/tests/fixtures/routing/mt-fr";
  auto result =
      moeprof::testing::runMoeprof("simulate " + fixture +
                                   " --stack decoder --cache lifo --slots 4,8 --devices 2,4,8 "
                                   "--placement roundrobin,greedy,anticorr,eplb --json " +
                                   path("sim.json"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NE(result.output.find("miss rate per device"), std::string::npos) << result.output;
  std::ifstream in(path("sim.json"));
  auto json = nlohmann::json::parse(in);
  const auto& device = json["device_cache"];
  // eplb has replicas: left out of the per-device replay, kept in the placement table.
  ASSERT_EQ(device["outcomes"].size(), 3u * 3u * 2u);
  EXPECT_EQ(json["placement"]["outcomes"].size(), 4u * 3u);
  for (const auto& o : device["outcomes"]) {
    EXPECT_EQ(o["per_device"].size(), o["devices"].get<size_t>());
    EXPECT_EQ(o["total"]["accesses"], o["one_device"]["accesses"]);
    EXPECT_GT(o["total"]["misses"].get<uint64_t>(), 0u);
  }
  auto bad = moeprof::testing::runMoeprof("simulate " + fixture +
                                          " --cache lifo --placement greedy --replay some");
  EXPECT_EQ(bad.exitCode, 2) << bad.output;
  EXPECT_NE(bad.output.find("'some'"), std::string::npos) << bad.output;
}

// A live run with N ranks and Expert Buffering buffers each rank's experts in the rank's own
// caches; replaying its routing log under the placement it used counts the same misses per rank.
TEST_F(DeviceCacheCommandTest, LiveRanksCountTheMissesTheReplayCounts) {
  setenv("MOEPROF_CACHE_DIR", path("cache").c_str(), 1);
  const std::string run =
      "run --preset lm-tiny --gating dynamic --repeats 3 --warmup 0 "
      "--threads 1 ";
  ASSERT_EQ(moeprof::testing::runMoeprof(run + "--out " + path("history")).exitCode, 0);
  for (const std::string& placement :
       {std::string("roundrobin"), "greedy --placement-history " + path("history")}) {
    SCOPED_TRACE(placement);
    const std::string out = path("live");
    auto live = moeprof::testing::runMoeprof(run + "--ranks 2 --buffering lifo --cache-slots 2 " +
                                             "--placement " + placement + " --force --out " + out);
    ASSERT_EQ(live.exitCode, 0) << live.output;
    std::ifstream in(out + "/run.json");
    auto metrics = nlohmann::json::parse(in)["metrics"];
    std::vector<Placement> placements;
    for (const auto& layer : metrics["expert_parallel"]["placement_metrics"]["layers"]) {
      std::vector<std::vector<int>> devicesOf(8);
      auto experts = layer["experts_of_rank"].get<std::vector<std::vector<int>>>();
      for (int rank = 0; rank < 2; ++rank) {
        for (int e : experts[rank]) devicesOf[e].push_back(rank);
      }
      placements.emplace_back(2, devicesOf);
    }
    auto log = collector::readRoutingLog(out + "/routing.bin");
    auto replayed = replayDeviceCaches(log, placements, "lifo", 2);
    for (int rank = 0; rank < 2; ++rank) {
      const auto& buffering = metrics["ranks"][rank]["buffering"];
      EXPECT_EQ(buffering["accesses"].get<uint64_t>(), replayed[rank].accesses) << rank;
      EXPECT_EQ(buffering["misses"].get<uint64_t>(), replayed[rank].misses) << rank;
    }
    if (placement != "roundrobin") continue;
    // simulate --replay all says the same of the round-robin run.
    auto simulated =
        moeprof::testing::runMoeprof("simulate " + out +
                                     " --cache lifo --slots 2 --devices 2 --placement roundrobin "
                                     "--replay all --json " +
                                     path("sim.json"));
    ASSERT_EQ(simulated.exitCode, 0) << simulated.output;
    std::ifstream simIn(path("sim.json"));
    auto perDevice = nlohmann::json::parse(simIn)["device_cache"]["outcomes"][0]["per_device"];
    for (int rank = 0; rank < 2; ++rank) {
      EXPECT_EQ(perDevice[rank]["misses"], metrics["ranks"][rank]["buffering"]["misses"]);
    }
  }
  unsetenv("MOEPROF_CACHE_DIR");
}

}  // namespace
}  // namespace moeprof::analysis
