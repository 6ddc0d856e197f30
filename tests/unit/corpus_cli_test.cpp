// `moeprof corpus`, `moeprof tokenizer` and `run --text/--domain/--lang` end to end on a fake
// Debian tree: tables, cache reuse, real text through a tiny preset, and exit 2 on bad input.
#include <gtest/gtest.h>

#include "collector/run_manifest.h"
#include "tests/support/fake_corpus_root.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using testing::runMoeprof;

class CorpusCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    testing::writeFakeCorpusRoot(dir_ / "root");
  }
  std::string buildArgs() const {
    return "corpus --root " + path("root") + " --out " + path("corpus") +
           " --lm-vocab 90 --mt-vocab 96 --threads 1";
  }
};

TEST_F(CorpusCliTest, BuildsPrintsSizesAndReusesTheCache) {
  auto first = runMoeprof(buildArgs());
  ASSERT_EQ(first.exitCode, 0) << first.output;
  for (const char* part : {"prose", "code", "license", "fr", "ja", "ast", "tokenizer"}) {
    EXPECT_NE(first.output.find(part), std::string::npos) << part << "\n" << first.output;
  }
  EXPECT_NE(first.output.find("built"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("warning: skipped"), std::string::npos) << first.output;
  auto second = runMoeprof(buildArgs());
  ASSERT_EQ(second.exitCode, 0) << second.output;
  EXPECT_NE(second.output.find("up to date"), std::string::npos) << second.output;
  EXPECT_TRUE(fs::exists(dir_ / "corpus/tokenizers/lm.model"));
}

TEST_F(CorpusCliTest, RunTakesRealTextFromTheCorpusAndFiles) {
  ASSERT_EQ(runMoeprof(buildArgs()).exitCode, 0);
  auto lm = runMoeprof("run --preset lm-tiny --domain prose --corpus " + path("corpus") +
                       " --repeats 1 --warmup 0 --out " + path("lm"));
  ASSERT_EQ(lm.exitCode, 0) << lm.output;
  auto manifest = collector::readManifest(path("lm"));
  EXPECT_EQ(manifest.config.at("text").at("domain"), "prose");
  testing::writeFile(dir_ / "source.txt", "the file system reads a list.\nevery option.\n");
  auto mt =
      runMoeprof("run --preset mt-tiny --text " + path("source.txt") + " --lang ja --corpus " +
                 path("corpus") + " --repeats 1 --warmup 0 --out " + path("mt"));
  ASSERT_EQ(mt.exitCode, 0) << mt.output;
  EXPECT_EQ(collector::readManifest(path("mt")).config.at("text").at("lang"), "ja");
}

TEST_F(CorpusCliTest, ReferenceDecodingFeedsTheDecoderTheReferences) {
  ASSERT_EQ(runMoeprof(buildArgs()).exitCode, 0);
  const std::string common = "run --preset mt-tiny --lang fr --corpus " + path("corpus") +
                             " --repeats 1 --warmup 0 --decode-steps 6 --out ";
  auto greedy = runMoeprof(common + path("greedy"));
  auto reference = runMoeprof(common + path("reference") + " --decode reference");
  ASSERT_EQ(greedy.exitCode, 0) << greedy.output;
  ASSERT_EQ(reference.exitCode, 0) << reference.output;
  auto greedyRun = collector::readManifest(path("greedy"));
  auto referenceRun = collector::readManifest(path("reference"));
  EXPECT_EQ(greedyRun.config.at("decode"), "greedy");
  EXPECT_EQ(referenceRun.config.at("decode"), "reference");
  // Same source batch, same first step (both start from BOS), different decoder inputs after.
  EXPECT_NE(greedyRun.metrics.at("output_digest"), referenceRun.metrics.at("output_digest"));
  auto noLang = runMoeprof("run --preset mt-tiny --decode reference --out " + path("bad"));
  EXPECT_EQ(noLang.exitCode, 2) << noLang.output;
  EXPECT_NE(noLang.output.find("--decode reference needs --lang"), std::string::npos)
      << noLang.output;
  EXPECT_FALSE(fs::exists(dir_ / "bad"));
}

TEST_F(CorpusCliTest, BadInputsExitTwoAndNameTheValue) {
  ASSERT_EQ(runMoeprof(buildArgs()).exitCode, 0);
  std::string corpus = " --corpus " + path("corpus");
  struct Case {
    std::string args;
    std::string message;
  };
  testing::writeFile(dir_ / "big.txt", [] {  // pseudo-random words: enough pieces for 300
    std::string text;
    unsigned state = 1;
    for (int i = 0; i < 4800; ++i) {
      for (int n = 2 + i % 7; n > 0; --n) {
        state = state * 1103515245u + 12345u;
        text += static_cast<char>('a' + (state >> 16) % 26);
      }
      text += i % 12 == 11 ? "\n" : " ";
    }
    return text;
  }());
  auto trained = runMoeprof("tokenizer train --input " + path("big.txt") + " --vocab 300 --model " +
                            path("big.model"));
  ASSERT_EQ(trained.exitCode, 0) << trained.output;
  ASSERT_NE(trained.output.find("vocabulary 300"), std::string::npos) << trained.output;
  testing::writeFile(dir_ / "latin1.txt", "caf\xe9\n");
  std::vector<Case> cases{
      {"run --preset lm-tiny --domain poetry" + corpus + " --out " + path("r1"), "poetry"},
      {"run --preset mt-tiny --domain prose" + corpus + " --out " + path("r2"), "--domain applies"},
      {"run --preset lm-tiny --lang fr" + corpus + " --out " + path("r3"), "--lang applies"},
      {"run --preset mt-tiny --lang de" + corpus + " --out " + path("r4"), "fr, ja, ast"},
      {"run --preset lm-tiny --text " + path("missing.txt") + corpus + " --out " + path("r5"),
       "missing.txt"},
      {"run --preset lm-tiny --domain code --tokenizer " + path("big.model") + corpus + " --out " +
           path("r6"),
       "(97)"},
      {"run --preset lm-tiny --domain code --corpus " + path("nothing") + " --out " + path("r7"),
       "moeprof corpus"},
      {"run --preset lm-tiny --text " + path("latin1.txt") + corpus + " --out " + path("r8"),
       "not UTF-8"},
      {"corpus --root " + path("no-such-root") + " --out " + path("c2"), "no-such-root"},
      {"corpus --root " + path("root") + " --out " + path("source.txt"), "not a directory"},
      {"tokenizer encode --model " + path("big.txt") + " --input " + path("big.txt"), "big.txt"},
  };
  testing::writeFile(dir_ / "source.txt", "x\n");
  for (const auto& c : cases) {
    auto result = runMoeprof(c.args);
    EXPECT_EQ(result.exitCode, 2) << c.args << "\n" << result.output;
    EXPECT_NE(result.output.find(c.message), std::string::npos) << c.args << "\n" << result.output;
  }
  for (const char* run : {"r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"}) {
    EXPECT_FALSE(fs::exists(dir_ / run / "run.json")) << run;
  }
}

TEST_F(CorpusCliTest, TokenizerCommandRoundTripsText) {
  testing::writeFile(dir_ / "train.txt", [] {
    std::string text;
    for (int i = 0; i < 200; ++i) text += testing::fakeSentence(i) + "\n";
    return text;
  }());
  auto trained = runMoeprof("tokenizer train --input " + path("train.txt") +
                            " --vocab 60 --model " + path("m.model") + " --symbols __fr__,__ja__");
  ASSERT_EQ(trained.exitCode, 0) << trained.output;
  testing::writeFile(dir_ / "line.txt", "the file system shows every option.\n");
  auto encoded =
      runMoeprof("tokenizer encode --model " + path("m.model") + " --input " + path("line.txt"));
  ASSERT_EQ(encoded.exitCode, 0) << encoded.output;
  testing::writeFile(dir_ / "ids.txt", encoded.output);
  auto decoded =
      runMoeprof("tokenizer decode --model " + path("m.model") + " --input " + path("ids.txt"));
  ASSERT_EQ(decoded.exitCode, 0) << decoded.output;
  EXPECT_EQ(decoded.output, "the file system shows every option.\n");
}

}  // namespace
}  // namespace moeprof
