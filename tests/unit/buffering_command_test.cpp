// `moeprof run --buffering` end to end: a buffered run computes what the unbuffered run computes
// (the output digest), writes its cache metrics, and bad buffering options exit 2 with nothing
// written.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;

class BufferingCommandTest : public testing::TempDirTest {
 protected:
  nlohmann::json runJson(const std::string& name) {
    std::ifstream in(dir_ / name / "run.json");
    return nlohmann::json::parse(in);
  }
  std::string lmTiny(const std::string& name) {
    return "run --preset lm-tiny --gating dynamic --repeats 2 --out " + path(name);
  }
};

TEST_F(BufferingCommandTest, BufferedRunsComputeWhatTheUnbufferedRunComputes) {
  setenv("MOEPROF_CACHE_DIR", path("cache").c_str(), 1);
  auto plain = testing::runMoeprof(lmTiny("plain"));
  ASSERT_EQ(plain.exitCode, 0) << plain.output;
  const auto digest = runJson("plain")["metrics"]["output_digest"];
  ASSERT_TRUE(digest.is_string());
  for (const char* options :
       {"--buffering lifo --cache-slots 2", "--buffering lifo --cache-slots 2 --read-ahead 0",
        "--buffering lru --cache-slots 3 --prefetch pregate", "--buffering belady --cache-slots 2",
        "--buffering fifo --cache-scope global --prefetch all",
        "--buffering lfu --prefetch oracle"}) {
    auto buffered = testing::runMoeprof(lmTiny("buffered") + " --force " + options);
    ASSERT_EQ(buffered.exitCode, 0) << options << ": " << buffered.output;
    auto json = runJson("buffered");
    EXPECT_EQ(json["metrics"]["output_digest"], digest) << options;
    const auto& metrics = json["metrics"]["buffering"];
    EXPECT_EQ(metrics["accesses"].get<uint64_t>(),
              metrics["hits"].get<uint64_t>() + metrics["misses"].get<uint64_t>())
        << options;
    EXPECT_GT(metrics["accesses"].get<uint64_t>(), 0u) << options;
    // The run prints what the tier delivered against its peak.
    char efficiency[64];
    std::snprintf(efficiency, sizeof efficiency, "efficiency %.2f (%.2f at the depths offered)",
                  metrics["bandwidth_efficiency"].get<double>(),
                  metrics["bandwidth_efficiency_at_offered_depth"].get<double>());
    EXPECT_NE(buffered.output.find("the tier's peak"), std::string::npos) << buffered.output;
    EXPECT_NE(buffered.output.find(efficiency), std::string::npos) << buffered.output;
  }
  unsetenv("MOEPROF_CACHE_DIR");
}

// Every rank buffers its own experts: the outputs stay those of the unbuffered ranks, and the
// run's buffering metrics add up the ranks'.
TEST_F(BufferingCommandTest, ExpertParallelRanksBufferTheirOwnExperts) {
  setenv("MOEPROF_CACHE_DIR", path("cache").c_str(), 1);
  const std::string ranks = " --ranks 2 --threads 1";
  auto plain = testing::runMoeprof(lmTiny("plain") + ranks);
  ASSERT_EQ(plain.exitCode, 0) << plain.output;
  auto buffered = testing::runMoeprof(lmTiny("buffered") + ranks +
                                      " --buffering lifo --cache-slots 2 --prefetch pregate");
  ASSERT_EQ(buffered.exitCode, 0) << buffered.output;
  auto metrics = runJson("buffered")["metrics"];
  EXPECT_EQ(metrics["output_digest"], runJson("plain")["metrics"]["output_digest"]);
  uint64_t misses = 0, accesses = 0;
  for (const auto& rank : metrics["ranks"]) {
    misses += rank["buffering"]["misses"].get<uint64_t>();
    accesses += rank["buffering"]["accesses"].get<uint64_t>();
    EXPECT_GT(rank["buffering"]["prefetch_loads"].get<uint64_t>(), 0u);
  }
  EXPECT_GT(misses, 0u);
  EXPECT_EQ(metrics["buffering"]["misses"].get<uint64_t>(), misses);
  EXPECT_EQ(metrics["buffering"]["accesses"].get<uint64_t>(), accesses);
  auto belady = testing::runMoeprof(lmTiny("bad") + ranks + " --buffering belady");
  EXPECT_EQ(belady.exitCode, 2) << belady.output;
  EXPECT_NE(belady.output.find("recording pass"), std::string::npos) << belady.output;
  EXPECT_FALSE(fs::exists(dir_ / "bad"));
  unsetenv("MOEPROF_CACHE_DIR");
}

TEST_F(BufferingCommandTest, BadBufferingOptionsExit2AndWriteNothing) {
  struct Case {
    std::string options, mentions;
  };
  for (const Case& bad : std::vector<Case>{
           {"--buffering lifo --cache-slots 1", "--cache-slots"},  // below top-k = 2
           {"--buffering lifo --cache-slots 9", "--cache-slots"},  // above the 8 experts
           {"--buffering mru", "'mru'"},
           {"--buffering lifo --prefetch sometimes", "'sometimes'"},
           {"--buffering lifo --cache-scope device", "'device'"},
           {"--buffering belady --prefetch pregate", "belady"},
           {"--cache-slots 4", "needs --buffering"},
           {"--buffering lifo --io-depth 0", "--io-depth"},
           {"--buffering lifo --io-depth 65", "--io-depth"},
           {"--io-depth 2", "needs --buffering"},
           {"--buffering lifo --read-ahead -1", "--read-ahead"},
           {"--buffering lifo --read-ahead 1025", "--read-ahead"},
           {"--read-ahead 2", "needs --buffering"},
           {"--prefetch pregate", "needs --buffering"}}) {
    auto result = testing::runMoeprof(lmTiny("bad") + " " + bad.options);
    EXPECT_EQ(result.exitCode, 2) << bad.options << ": " << result.output;
    EXPECT_NE(result.output.find(bad.mentions), std::string::npos) << result.output;
    EXPECT_FALSE(fs::exists(dir_ / "bad")) << bad.options;
  }
  auto staticGating = testing::runMoeprof(
      "run --preset lm-tiny --gating static --buffering lifo "
      "--out " +
      path("bad"));
  EXPECT_EQ(staticGating.exitCode, 2) << staticGating.output;
  EXPECT_NE(staticGating.output.find("--gating dynamic"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "bad"));
}

}  // namespace
}  // namespace moeprof
