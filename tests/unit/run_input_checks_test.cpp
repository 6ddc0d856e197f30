// Input checks of issue 19 that used to pass silently: option values that meant something else
// (--threads 0, --seed -1, --placement eplb:0), a routing log of another model than its run.json
// or the run it places, a routing log without routing, and a checkpoint without its tokenizer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "collector/routing_log.h"
#include "collector/run_manifest.h"
#include "tests/support/moeprof_command.h"
#include "workloads/checkpoints/checkpoint.h"
#include "workloads/model/models.h"
#include "workloads/model/presets.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using testing::runMoeprof;
using RunInputChecksTest = testing::TempDirTest;

const std::string kQuick = " --preset lm-tiny --repeats 1 --warmup 0 --threads 1";

TEST_F(RunInputChecksTest, ValuesThatMeantSomethingElseAreRefusedNamingWhatIsAllowed) {
  const struct {
    std::string arguments, expected;
  } cases[] = {
      {"--threads 0", "'0' is out of range: allowed 1..4096"},
      {"--threads -1", "'-1' is out of range: allowed 1..4096"},
      {"--seed -1", "'-1' is not a seed: allowed a whole number from 0 to 18446744073709551615"},
      {"--ranks 2 --placement eplb:0 --placement-history " + path("x"),
       "eplb:N adds N extra replicas, so N must be at least 1"},
  };
  for (const auto& c : cases) {
    auto result = runMoeprof("run --preset lm-tiny " + c.arguments + " --out " + path("r"));
    EXPECT_EQ(result.exitCode, 2) << c.arguments << "\n" << result.output;
    EXPECT_NE(result.output.find(c.expected), std::string::npos) << c.arguments << "\n"
                                                                 << result.output;
    EXPECT_FALSE(fs::exists(dir_ / "r")) << c.arguments;
  }
  auto train = runMoeprof("train --seed -5 --out " + path("t"));
  EXPECT_EQ(train.exitCode, 2) << train.output;
  EXPECT_NE(train.output.find("is not a seed"), std::string::npos) << train.output;
}

// Writes `log` with `header` in place of its own.
void rewriteHeader(const fs::path& file, const collector::RoutingLogHeader& header,
                   bool keepRecords = true) {
  auto log = collector::readRoutingLog(file);
  collector::RoutingLogWriter writer(file, header);
  if (keepRecords) {
    for (const auto& record : log.records) writer.append(record);
  }
  writer.flush();
}

TEST_F(RunInputChecksTest, ARoutingLogOfAnotherModelIsRefused) {
  auto run = runMoeprof("run" + kQuick + " --out " + path("a"));
  ASSERT_EQ(run.exitCode, 0) << run.output;
  const fs::path log = dir_ / "a" / "routing.bin";
  auto header = collector::readRoutingLog(log).header;

  // The same shape under another model's name: beside run.json, and as a placement history.
  header.model = "lm-other";
  rewriteHeader(log, header);
  auto simulate = runMoeprof("simulate " + path("a"));
  EXPECT_EQ(simulate.exitCode, 2) << simulate.output;
  EXPECT_NE(simulate.output.find("is not the routing of the run in"), std::string::npos)
      << simulate.output;
  auto characterize = runMoeprof("characterize " + path("a"));
  EXPECT_EQ(characterize.exitCode, 2) << characterize.output;
  EXPECT_NE(characterize.output.find("'lm-other'"), std::string::npos) << characterize.output;
  fs::copy_file(log, dir_ / "other.bin");
  auto placed = runMoeprof("run" + kQuick + " --ranks 2 --placement greedy --placement-history " +
                           path("other.bin") + " --out " + path("b"));
  EXPECT_EQ(placed.exitCode, 2) << placed.output;
  EXPECT_NE(placed.output.find("is the routing of model 'lm-other', not of lm-tiny"),
            std::string::npos)
      << placed.output;
  EXPECT_FALSE(fs::exists(dir_ / "b"));

  // A log without routing has nothing to replay: no miss rates of 0 for 0 accesses.
  header.model = "lm-tiny";
  rewriteHeader(log, header, /*keepRecords=*/false);
  auto empty = runMoeprof("simulate " + path("a"));
  EXPECT_EQ(empty.exitCode, 2) << empty.output;
  EXPECT_NE(empty.output.find("holds no routing"), std::string::npos) << empty.output;
}

TEST_F(RunInputChecksTest, ACheckpointWithoutItsTokenizerSaysSoAndRunJsonRecordsTheTokenizer) {
  workloads::LmModel model(workloads::findPreset("lm-tiny"), 3, at::kCPU);
  workloads::saveCheckpoint(model, dir_ / "model");
  ASSERT_FALSE(fs::exists(dir_ / "model" / "tokenizer.model"));
  std::ofstream text(dir_ / "text.txt");
  for (int i = 0; i < 200; ++i) text << "the file system reads a list of pages and shows it\n\n";
  text.close();
  fs::create_directories(dir_ / "corpus" / "tokenizers");
  auto tokenizer = runMoeprof("tokenizer train --input " + path("text.txt") +
                              " --vocab 60 --model " + path("corpus/tokenizers/lm.model"));
  ASSERT_EQ(tokenizer.exitCode, 0) << tokenizer.output;

  auto result =
      runMoeprof("run --checkpoint " + path("model") + " --text " + path("text.txt") +
                 " --corpus " + path("corpus") + " --repeats 1 --threads 1 --out " + path("r"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NE(result.output.find("moeprof: warning: --checkpoint " + path("model") +
                               " has no tokenizer.model"),
            std::string::npos)
      << result.output;
  auto text_config = collector::readManifest(dir_ / "r").config["text"];
  EXPECT_EQ(text_config["tokenizer"], path("corpus/tokenizers/lm.model")) << text_config.dump();
  EXPECT_EQ(text_config["tokenizer_source"], "corpus") << text_config.dump();
}

}  // namespace
}  // namespace moeprof
