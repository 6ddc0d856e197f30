// Placement replay: specs by name, the half/half evaluation on hand-computed loads, and
// `moeprof simulate --placement` on a recorded run.
#include "analysis/placement_simulation.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"

namespace moeprof::analysis {
namespace {

namespace fs = std::filesystem;

// One LM layer, 4 experts. History (first half): experts 0 and 2 carry everything, so
// round-robin (0,2 on device 0) puts all tokens on one device and greedy splits them.
RoutingLoads handWorkedLoads() {
  RoutingLoads loads;
  loads.numExperts = 4;
  loads.topK = 2;
  LayerLoads layer;
  layer.tokens = {{10, 0, 10, 0}, {10, 0, 10, 0}, {10, 0, 10, 0}, {6, 0, 2, 0}};
  layer.rows = {{0, 0}, {1, 0}, {2, 0}, {3, 0}};
  loads.layers.push_back(layer);
  return loads;
}

TEST(PlacementSpecTest, NamesParseAndBadOnesSayWhatIsAllowed) {
  EXPECT_EQ(parsePlacementSpec("greedy").algorithm, "greedy");
  EXPECT_EQ(parsePlacementSpec("eplb:3").extraReplicas, 3);
  EXPECT_EQ(parsePlacementSpec("eplb:3").name(), "eplb:3");
  EXPECT_EQ(parsePlacementSpec("eplb").name(), "eplb");
  for (const char* bad : {"random", "eplb:", "eplb:-1", "eplb:2x", ""}) {
    std::string message = moeprof::testing::inputErrorMessage([&] { parsePlacementSpec(bad); });
    EXPECT_NE(message.find("'" + std::string(bad) + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("roundrobin"), std::string::npos) << message;
  }
}

TEST(PlacementSimulationTest, ChoosesOnTheFirstHalfAndJudgesOnTheSecond) {
  auto simulation =
      simulatePlacements(handWorkedLoads(), "lm-test",
                         {parsePlacementSpec("roundrobin"), parsePlacementSpec("greedy")}, {2});
  ASSERT_EQ(simulation.outcomes.size(), 2u);
  EXPECT_EQ(simulation.outcomes[0].historyPasses, 2u);
  EXPECT_EQ(simulation.outcomes[0].evaluationPasses, 2u);
  const PlacementOutcome& roundRobin = simulation.outcomes[0];
  EXPECT_EQ(roundRobin.placement, "roundrobin");
  EXPECT_DOUBLE_EQ(roundRobin.meanPooledMaxLoad, 1.0);  // device 0 holds experts 0 and 2
  EXPECT_DOUBLE_EQ(roundRobin.meanPerPassMaxLoad, 1.0);
  EXPECT_DOUBLE_EQ(roundRobin.meanPerPassAvgMaxLoad, 1.0);
  // Greedy: expert 0 on device 0, expert 2 on device 1. Evaluation passes (10,10) and (6,2):
  // pooled Max Load = 16 / 28; per pass 10/20 and 6/8, so Max Load 6/8 and Avg Max Load
  // (10/20 + 6/8) / 2.
  const PlacementOutcome& greedy = simulation.outcomes[1];
  EXPECT_DOUBLE_EQ(greedy.meanPooledMaxLoad, 16.0 / 28.0);
  EXPECT_DOUBLE_EQ(greedy.meanPerPassMaxLoad, 0.75);
  EXPECT_DOUBLE_EQ(greedy.meanPerPassAvgMaxLoad, (0.5 + 0.75) / 2);
  EXPECT_DOUBLE_EQ(greedy.worstPooledMaxLoad, greedy.meanPooledMaxLoad);
  EXPECT_DOUBLE_EQ(greedy.worstPerPassMaxLoad, 0.75);
  auto csv = placementSimulationCsv(simulation);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_NE(csv.find("mean_per_pass_max_load,mean_per_pass_avg_max_load,mean_pooled_max_load"),
            std::string::npos)
      << csv;
  auto json = nlohmann::json::parse(placementSimulationJson(simulation));
  EXPECT_EQ(json["outcomes"][1]["placement"], "greedy");
  EXPECT_EQ(json["outcomes"][1]["stack"], "lm");
  EXPECT_DOUBLE_EQ(json["outcomes"][1]["mean_per_pass_max_load"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(json["outcomes"][1]["mean_pooled_max_load"].get<double>(), 16.0 / 28.0);
}

TEST(PlacementSimulationTest, DeviceCountsThatDoNotFitAreInputErrors) {
  std::string message = moeprof::testing::inputErrorMessage([] {
    simulatePlacements(handWorkedLoads(), "lm-test", {parsePlacementSpec("greedy")}, {3});
  });
  EXPECT_NE(message.find("3"), std::string::npos) << message;
  RoutingLoads single = handWorkedLoads();
  single.layers.front().tokens.resize(1);
  moeprof::testing::inputErrorMessage(
      [&] { simulatePlacements(single, "lm-test", {parsePlacementSpec("greedy")}, {2}); });
}

class SimulatePlacementCommandTest : public moeprof::testing::TempDirTest {};

TEST_F(SimulatePlacementCommandTest, ReplaysEveryPlacementPerStackOfARecordedRun) {
  auto run = moeprof::testing::runMoeprof("run --preset mt-tiny --repeats 2 --out " + path("mt"));
  ASSERT_EQ(run.exitCode, 0) << run.output;
  auto result =
      moeprof::testing::runMoeprof("simulate " + path("mt") +
                                   " --placement roundrobin,greedy,anticorr,eplb:2 --devices 2,4 "
                                   "--csv " +
                                   path("p.csv") + " --json " + path("p.json"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NE(result.output.find("anticorr"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("miss rate"), std::string::npos) << "no cache table without --cache";
  std::ifstream in(path("p.json"));
  auto json = nlohmann::json::parse(in);
  EXPECT_FALSE(json.contains("cache"));
  const auto& outcomes = json["placement"]["outcomes"];
  ASSERT_EQ(outcomes.size(), 4u * 2u * 2u);  // placements x device counts x (encoder, decoder)
  for (const auto& o : outcomes) {
    double perfect = 1.0 / o["devices"].get<int>();
    EXPECT_GE(o["mean_pooled_max_load"].get<double>(), perfect - 1e-9) << o.dump();
    EXPECT_LE(o["mean_pooled_max_load"].get<double>(),
              o["worst_pooled_max_load"].get<double>() + 1e-12);
    EXPECT_LE(o["mean_per_pass_max_load"].get<double>(),
              o["worst_per_pass_max_load"].get<double>() + 1e-12);
    // Every pass has the same tokens here, so the mean of the passes' busiest shares is at least
    // the pooled share, and their maximum at least their mean.
    EXPECT_GE(o["mean_per_pass_avg_max_load"].get<double>(),
              o["mean_pooled_max_load"].get<double>() - 1e-9);
    EXPECT_GE(o["mean_per_pass_max_load"].get<double>(),
              o["mean_per_pass_avg_max_load"].get<double>() - 1e-9);
  }
  EXPECT_TRUE(fs::exists(path("p.csv")));

  auto decoder = moeprof::testing::runMoeprof("simulate " + path("mt") +
                                              " --stack decoder --placement greedy --devices 2 "
                                              "--cache lifo --slots 2 --json " +
                                              path("d.json"));
  ASSERT_EQ(decoder.exitCode, 0) << decoder.output;
  std::ifstream decoderIn(path("d.json"));
  auto decoderJson = nlohmann::json::parse(decoderIn);
  ASSERT_EQ(decoderJson["placement"]["outcomes"].size(), 1u);
  EXPECT_EQ(decoderJson["placement"]["outcomes"][0]["stack"], "decoder");
  EXPECT_EQ(decoderJson["cache"]["layers"], 2);  // of 4: mt-tiny has 2 MoE layers per stack

  for (const std::string& bad : std::vector<std::string>{
           "--stack lm --placement greedy", "--stack middle --placement greedy",
           "--placement greedy --devices 3", "--placement fancy", "--placement greedy --devices 0",
           "--placement greedy --cache lifo --csv " + path("both.csv")}) {
    auto failed = moeprof::testing::runMoeprof("simulate " + path("mt") + " " + bad + " --json " +
                                               path("bad.json"));
    EXPECT_EQ(failed.exitCode, 2) << bad << ": " << failed.output;
    EXPECT_FALSE(fs::exists(path("bad.json"))) << bad;
    EXPECT_FALSE(fs::exists(path("both.csv"))) << bad;
  }
}

}  // namespace
}  // namespace moeprof::analysis
