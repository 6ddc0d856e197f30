// Every reader of a routing log takes its records in one order, or rejects the log: records out
// of execution order or repeated are an InputError (exit 2) naming the first offending record,
// in cache replay, placement, statistics and per-device replay alike. Hand-written logs.
#include "analysis/routing_order.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "analysis/cache_simulation.h"
#include "analysis/device_cache_simulation.h"
#include "analysis/routing_loads.h"
#include "analysis/routing_statistics.h"
#include "collector/routing_log.h"
#include "collector/run_manifest.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"

namespace moeprof::analysis {
namespace {

namespace fs = std::filesystem;
using moeprof::testing::inputErrorMessage;

collector::RoutingRecord record(uint32_t batch, uint32_t step, uint32_t layer,
                                std::vector<uint16_t> experts) {
  collector::RoutingRecord r;
  r.batch = batch;
  r.step = step;
  r.moeLayer = layer;
  r.numTokens = static_cast<uint32_t>(experts.size() / 2);
  r.gateWeights.assign(experts.size(), 0.5f);
  r.experts = std::move(experts);
  return r;
}

// An MT-shaped log in execution order: per batch the encoder layer (0) at step 0, then the
// decoder layer (1) at steps 0, 1, 2. 4 experts, top-2.
collector::RoutingLog executionOrderLog() {
  collector::RoutingLog log;
  log.header.model = "mt-test";
  log.header.numExperts = 4;
  log.header.topK = 2;
  log.header.layers = {{collector::LayerStack::Encoder, 0}, {collector::LayerStack::Decoder, 0}};
  for (uint32_t batch = 0; batch < 2; ++batch) {
    log.records.push_back(record(batch, 0, 0, {0, 1, 2, 3}));
    for (uint32_t step = 0; step < 3; ++step) {
      log.records.push_back(record(batch, step, 1, {uint16_t(step), 3, uint16_t(batch), 2}));
    }
  }
  return log;
}

// Every analysis reader of a log, each expected to reject it with `mentions` in its message.
void expectEveryReaderRejects(const collector::RoutingLog& log, const std::string& mentions) {
  const std::vector<std::pair<const char*, std::function<void()>>> readers = {
      {"routingLoads", [&] { routingLoads(log); }},
      {"buildAccessTraces", [&] { buildAccessTraces(log, CacheScope::Layer); }},
      {"simulateCaches", [&] { simulateCaches(log, {"lifo"}, {2}, CacheScope::Global); }},
      {"routingStatistics", [&] { routingStatistics(log); }},
      {"replayDeviceCaches",
       [&] {
         replayDeviceCaches(log, {roundRobinPlacement(4, 2), roundRobinPlacement(4, 2)}, "lru", 2);
       }},
      {"checkRoutingOrder", [&] { checkRoutingOrder(log, "routing.bin"); }},
  };
  for (const auto& [name, read] : readers) {
    std::string message = inputErrorMessage(read);
    EXPECT_NE(message.find(mentions), std::string::npos) << name << ": " << message;
  }
}

TEST(RoutingOrder, ExecutionOrderIsAccepted) {
  const collector::RoutingLog log = executionOrderLog();
  checkRoutingOrder(log);
  RoutingLoads loads = routingLoads(log);
  EXPECT_EQ(loads.layers[1].tokens.size(), 6u);  // 2 batches x 3 decoder steps
  EXPECT_EQ(buildAccessTraces(log, CacheScope::Layer)[1].numBatches(), 6u);
}

TEST(RoutingOrder, ARecordOutOfOrderIsRejectedByEveryReaderNamingIt) {
  collector::RoutingLog log = executionOrderLog();
  // Batch 0's decoder steps 1 and 2 swapped: the 4th record (step 2) comes before step 1.
  std::swap(log.records[2], log.records[3]);
  expectEveryReaderRejects(log,
                           "the 4th record (batch 0, step 1, MoE layer 1) comes after the "
                           "3rd record (batch 0, step 2, MoE layer 1)");
  std::string message = inputErrorMessage([&] { checkRoutingOrder(log, "dir/routing.bin"); });
  EXPECT_EQ(message.rfind("'dir/routing.bin': ", 0), 0u) << message;
  EXPECT_NE(message.find("increasing in (batch, step, MoE layer)"), std::string::npos) << message;
}

TEST(RoutingOrder, ALayerBeforeAnEarlierLayerOfTheSameStepIsOutOfOrder) {
  collector::RoutingLog log = executionOrderLog();
  // The decoder's step 0 before the encoder of the same batch.
  std::swap(log.records[0], log.records[1]);
  expectEveryReaderRejects(log, "the 2nd record (batch 0, step 0, MoE layer 0) comes after");
}

TEST(RoutingOrder, ADuplicatedRecordIsRejectedNamingTheRecordItRepeats) {
  collector::RoutingLog log = executionOrderLog();
  // Batch 1's encoder record appended again at the end: it repeats the 5th record.
  log.records.push_back(log.records[4]);
  expectEveryReaderRejects(log,
                           "the 9th record (batch 1, step 0, MoE layer 0) repeats the 5th "
                           "record (batch 1, step 0, MoE layer 0)");
  // Repeated right away.
  collector::RoutingLog twice = executionOrderLog();
  twice.records.insert(twice.records.begin() + 2, twice.records[1]);
  expectEveryReaderRejects(twice, "the 3rd record (batch 0, step 0, MoE layer 1) repeats the 2nd");
}

class RoutingOrderCommandTest : public moeprof::testing::TempDirTest {
 protected:
  // A run directory with run.json (characterize needs one: a fixture's, made to describe the
  // log's model so that the run-identity check passes) and the log.
  fs::path writeRun(const std::string& name, const collector::RoutingLog& log) {
    fs::path run = dir_ / name;
    fs::create_directories(run);
    std::ifstream in(fs::path(MOEPROF_SOURCE_DIR) / "tests/fixtures/routing/mt-fr/run.json");
    nlohmann::json manifest = nlohmann::json::parse(in);
    nlohmann::json& config = manifest["config"];
    config["preset"] = log.header.model;
    config["model"]["experts"] = log.header.numExperts;
    config["model"]["top_k"] = log.header.topK;
    config["model"]["moe_layers"] = log.header.layers.size();
    std::ofstream(run / "run.json") << manifest.dump(2);
    collector::RoutingLogWriter writer(run / collector::kRoutingLogFileName, log.header);
    for (const auto& r : log.records) writer.append(r);
    writer.flush();
    return run;
  }
};

TEST_F(RoutingOrderCommandTest, SimulateAndCharacterizeExit2NamingTheFileAndRecord) {
  collector::RoutingLog log = executionOrderLog();
  log.records.push_back(log.records[4]);
  fs::path run = writeRun("dup", log);
  for (const std::string& command :
       {"simulate " + run.string() + " --cache lifo --slots 2",
        "simulate " + run.string() + " --placement greedy --devices 2",
        "simulate " + run.string() + " --stack decoder --cache lifo --slots 2",
        "characterize " + run.string() + " --no-similarity"}) {
    auto result = moeprof::testing::runMoeprof(command);
    EXPECT_EQ(result.exitCode, 2) << command << ": " << result.output;
    EXPECT_NE(result.output.find((run / "routing.bin").string()), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("the 9th record (batch 1, step 0, MoE layer 0) repeats"),
              std::string::npos)
        << command << ": " << result.output;
  }
  // The same log in order is read.
  fs::path good = writeRun("good", executionOrderLog());
  auto result = moeprof::testing::runMoeprof("simulate " + good.string() +
                                             " --cache lifo --slots 2 --placement roundrobin "
                                             "--devices 2");
  EXPECT_EQ(result.exitCode, 0) << result.output;
}

}  // namespace
}  // namespace moeprof::analysis
