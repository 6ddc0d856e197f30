// `moeprof characterize` end to end: tiny LM and MT runs (with --domain/--lang from a fake
// corpus), Zipf twins, JSON, and the bad inputs that must exit 2 and write nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/fake_corpus_root.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using testing::runMoeprof;

nlohmann::json readJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

class CharacterizeCommandTest : public testing::TempDirTest {
 protected:
  void run(const std::string& args, const std::string& out) {
    auto result = runMoeprof("run " + args + " --repeats 2 --warmup 0 --out " + path(out));
    ASSERT_EQ(result.exitCode, 0) << result.output;
  }
};

TEST_F(CharacterizeCommandTest, TablesAndJsonForRealAndZipfRouting) {
  ASSERT_NO_FATAL_FAILURE(run("--preset mt-tiny", "mt1"));
  ASSERT_NO_FATAL_FAILURE(run("--preset mt-tiny --seed 2", "mt2"));
  auto result = runMoeprof("characterize " + path("mt1") + " " + path("mt2") +
                           " --zipf 0.5,2 --slots 2..4 --devices 2,3 --json " + path("c.json"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  for (const char* part :
       {"zipf s=0.5 (mt-tiny)", "zipf s=2 (mt-tiny)", "decoder", "encoder", "idle/pass ~0.75",
        "lifo", "belady", "greedy max / avg max per pass", "Jensen-Shannon", "2.35x",
        "Expert Buffering per GPU", "balancing lowers miss rates too"}) {
    EXPECT_NE(result.output.find(part), std::string::npos) << part << "\n" << result.output;
  }
  auto json = readJson(path("c.json"));
  EXPECT_EQ(json["format"], "moeprof-characterization");
  ASSERT_EQ(json["runs"].size(), 4u);  // 2 runs + one twin of mt-tiny per exponent
  EXPECT_EQ(json["runs"][0]["run"]["preset"], "mt-tiny");
  EXPECT_FALSE(json["runs"][0]["run"]["synthetic"].get<bool>());
  EXPECT_TRUE(json["runs"][3]["run"]["synthetic"].get<bool>());
  EXPECT_EQ(json["runs"][3]["run"]["zipf_s"], 2.0);
  for (const auto& r : json["runs"]) {
    ASSERT_EQ(r["stacks"].size(), 2u);
    for (const auto& stack : r["stacks"]) {
      double gini = stack["gini"].get<double>();
      EXPECT_GE(gini, 0.0);
      EXPECT_LT(gini, 1.0);
      double idle = stack["inactive_per_pass"].get<double>();
      EXPECT_GE(idle, 0.0);
      EXPECT_LE(idle, 1.0);
      EXPECT_LE(stack["inactive_per_batch"].get<double>(), idle + 1e-12)
          << "a batch's union of steps idles no more experts than its steps";
      // Belady's MIN never misses more with more slots (LIFO and LRU need not be monotone).
      const auto& belady = stack["cache"]["policies"][2];
      ASSERT_EQ(belady["policy"], "belady");
      const auto& points = belady["points"];
      ASSERT_EQ(points.size(), 3u);  // 2..4 slots, top-2 of 8 experts
      EXPECT_GE(points[0]["miss_rate"].get<double>(), points[2]["miss_rate"].get<double>());
      ASSERT_EQ(stack["placement"]["outcomes"].size(), 2u) << "3 does not divide 8 experts";
      // Per-GPU caches: 2 devices of 4 experts each; of the slots 2, 4, 8 only 2 is below 4.
      // The encoder's judged half is one pass per layer (2 batches), only first accesses.
      if (stack["stack"] == "encoder") {
        EXPECT_TRUE(stack["device_cache"].is_null());
        continue;
      }
      const auto& device = stack["device_cache"]["outcomes"];
      ASSERT_EQ(device.size(), 2u) << stack["device_cache"].dump();
      EXPECT_EQ(device[0]["slots"], 2);
      EXPECT_EQ(device[0]["per_device"].size(), 2u);
      EXPECT_EQ(device[1]["placement"], "greedy");
    }
  }
  // Zipf twins with a larger exponent are more skewed, in every stack.
  for (size_t s = 0; s < 2; ++s) {
    EXPECT_GT(json["runs"][3]["stacks"][s]["gini"].get<double>(),
              json["runs"][2]["stacks"][s]["gini"].get<double>());
  }
  ASSERT_EQ(json["similarity"].size(), 2u);
  const auto& cosine = json["similarity"][1]["cosine"];
  ASSERT_EQ(cosine.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(cosine[i][i].get<double>(), 1.0, 1e-9);
  EXPECT_NEAR(json["similarity"][1]["jensen_shannon_divergence"][0][1].get<double>(),
              json["similarity"][1]["jensen_shannon_divergence"][1][0].get<double>(), 1e-12);
}

TEST_F(CharacterizeCommandTest, LabelsDomainsAndLanguagesFromRunJson) {
  testing::writeFakeCorpusRoot(dir_ / "root");
  auto corpus = runMoeprof("corpus --root " + path("root") + " --out " + path("corpus") +
                           " --lm-vocab 90 --mt-vocab 96 --threads 1");
  ASSERT_EQ(corpus.exitCode, 0) << corpus.output;
  const std::string from = " --corpus " + path("corpus");
  ASSERT_NO_FATAL_FAILURE(run("--preset lm-tiny --domain prose" + from, "prose"));
  ASSERT_NO_FATAL_FAILURE(run("--preset lm-tiny --domain code" + from, "code"));
  ASSERT_NO_FATAL_FAILURE(run("--preset mt-tiny --lang ja" + from, "ja"));
  auto lm = runMoeprof("characterize " + path("prose") + " " + path("code") + " --json " +
                       path("lm.json"));
  ASSERT_EQ(lm.exitCode, 0) << lm.output;
  EXPECT_NE(lm.output.find("lm-tiny domain=prose"), std::string::npos) << lm.output;
  EXPECT_NE(lm.output.find("lm-tiny domain=code"), std::string::npos) << lm.output;
  auto json = readJson(path("lm.json"));
  EXPECT_EQ(json["runs"][1]["run"]["domain"], "code");
  EXPECT_TRUE(json["runs"][1]["run"]["lang"].is_null());
  ASSERT_EQ(json["similarity"].size(), 1u);
  EXPECT_EQ(json["similarity"][0]["stack"], "lm");
  double crossDomain = json["similarity"][0]["cosine"][0][1].get<double>();
  EXPECT_GT(crossDomain, 0.0);
  EXPECT_LE(crossDomain, 1.0 + 1e-12);
  // An LM and an MT run together: fine without the similarity matrix.
  auto mixed = runMoeprof("characterize " + path("prose") + " " + path("ja") + " --no-similarity");
  ASSERT_EQ(mixed.exitCode, 0) << mixed.output;
  EXPECT_NE(mixed.output.find("mt-tiny lang=ja"), std::string::npos) << mixed.output;
}

TEST_F(CharacterizeCommandTest, BadInputsExitTwoNameTheValueAndWriteNothing) {
  ASSERT_NO_FATAL_FAILURE(run("--preset mt-tiny", "mt"));
  ASSERT_NO_FATAL_FAILURE(run("--preset lm-tiny", "lm"));
  ASSERT_NO_FATAL_FAILURE(run("--preset lm-dense-tiny", "dense"));
  fs::create_directories(dir_ / "empty");
  const std::string mt = path("mt");
  struct Case {
    std::string args;
    std::string named;
  };
  for (const Case& c : std::vector<Case>{
           {path("nowhere"), "nowhere"},
           {path("empty"), "run.json"},
           {path("dense"), "routing.bin"},
           {mt + " " + path("lm"), "--no-similarity"},
           {mt + " --zipf 0", "'0'"},
           {mt + " --zipf -1.5", "'-1.5'"},
           {mt + " --zipf abc", "'abc'"},
           {mt + " --slots 0", "'0'"},
           {mt + " --slots 4..2", "range is empty"},
           {mt + " --devices 0", "'0'"},
           {mt + " --cache fancy", "fancy"},
           {mt + " --placement fancy", "fancy"},
           {mt + " --device-cache fancy", "fancy"},
           {mt + " --device-slots x", "--device-slots 'x'"},
       }) {
    auto result = runMoeprof("characterize " + c.args + " --json " + path("bad.json"));
    EXPECT_EQ(result.exitCode, 2) << c.args << "\n" << result.output;
    EXPECT_NE(result.output.find(c.named), std::string::npos) << c.args << "\n" << result.output;
    EXPECT_FALSE(fs::exists(path("bad.json"))) << c.args;
  }
  auto help = runMoeprof("characterize --help");
  EXPECT_EQ(help.exitCode, 0);
  EXPECT_NE(help.output.find("--zipf"), std::string::npos) << help.output;
}

}  // namespace
}  // namespace moeprof
