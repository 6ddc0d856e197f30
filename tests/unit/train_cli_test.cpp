// `moeprof train` and `moeprof run --checkpoint` end to end: a trained micro checkpoint runs,
// its outputs differ from random weights and repeat on reload; bad inputs exit 2 and write
// nothing.
#include <gtest/gtest.h>

#include "collector/run_manifest.h"
#include "tests/support/fake_corpus_root.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using testing::runMoeprof;

class TrainCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    testing::writeFakeCorpusRoot(dir_ / "root");
    ASSERT_EQ(runMoeprof("corpus --root " + path("root") + " --out " + path("corpus") +
                         " --lm-vocab 90 --mt-vocab 96 --threads 1")
                  .exitCode,
              0);
  }
  std::string train(const std::string& extra) const {
    return "train --size micro --threads 1 --corpus " + path("corpus") + " " + extra;
  }
  std::string digestOf(const std::string& run) const {
    return collector::readManifest(path(run)).metrics.at("output_digest").get<std::string>();
  }
};

TEST_F(TrainCliTest, TrainedCheckpointRunsWithItsTokenizer) {
  auto trained = runMoeprof(train("--workload lm --steps 20 --out " + path("model")));
  ASSERT_EQ(trained.exitCode, 0) << trained.output;
  EXPECT_NE(trained.output.find("unigram"), std::string::npos) << trained.output;
  const std::string common = " --repeats 1 --warmup 0 --domain code --corpus " + path("corpus");
  auto a = runMoeprof("run --checkpoint " + path("model") + common + " --out " + path("a"));
  ASSERT_EQ(a.exitCode, 0) << a.output;
  auto b = runMoeprof("run --checkpoint " + path("model") + common + " --out " + path("b"));
  ASSERT_EQ(b.exitCode, 0) << b.output;
  EXPECT_EQ(digestOf("a"), digestOf("b"));  // a reload computes the same
  auto manifest = collector::readManifest(path("a"));
  EXPECT_EQ(manifest.config.at("checkpoint").at("path"), path("model"));
  EXPECT_EQ(manifest.config.at("checkpoint").at("id").get<std::string>().size(), 16u);
  EXPECT_EQ(manifest.config.at("preset"), "lm-micro");
  // Random weights of the same shape: another checkpoint, trained for a single step.
  ASSERT_EQ(runMoeprof(train("--workload lm --steps 1 --out " + path("untrained"))).exitCode, 0);
  auto c = runMoeprof("run --checkpoint " + path("untrained") + common + " --out " + path("c"));
  ASSERT_EQ(c.exitCode, 0) << c.output;
  EXPECT_NE(digestOf("a"), digestOf("c"));
  auto buffered = runMoeprof("run --checkpoint " + path("model") + common +
                             " --buffering lifo --cache-slots 4 --out " + path("d"));
  ASSERT_EQ(buffered.exitCode, 0) << buffered.output;
  EXPECT_EQ(digestOf("d"), digestOf("a"));
}

TEST_F(TrainCliTest, BadInputsExitTwoAndWriteNothing) {
  ASSERT_EQ(runMoeprof(train("--workload mt --steps 2 --out " + path("mt"))).exitCode, 0);
  struct Case {
    std::string args, mentions;
  };
  const Case cases[] = {
      {"train --size huge --corpus " + path("corpus") + " --out " + path("x"), "huge"},
      {train("--steps 0 --out " + path("x")), "--steps 0"},
      {train("--workload xx --out " + path("x")), "xx"},
      {train("--resume --out " + path("x")), "--resume"},
      {train("--lr 5 --out " + path("x")), "--lr"},
      {"run --checkpoint " + path("mt") + " --preset mt-tiny --out " + path("x"), "--preset"},
      {"run --checkpoint " + path("mt") + " --workload lm --out " + path("x"), "--workload lm"},
      {"run --checkpoint " + path("nothing") + " --out " + path("x"), "nothing"},
  };
  for (const auto& c : cases) {
    auto result = runMoeprof(c.args);
    EXPECT_EQ(result.exitCode, 2) << c.args << "\n" << result.output;
    EXPECT_NE(result.output.find(c.mentions), std::string::npos) << c.args << "\n" << result.output;
    EXPECT_FALSE(fs::exists(dir_ / "x")) << c.args;
  }
}

}  // namespace
}  // namespace moeprof
