// The memory check before a run allocates (issue 19): a run whose weights and largest
// activations exceed what the machine has is refused at once with both numbers, before its
// directory exists; --ignore-memory-check is documented; small runs are not refused.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "workloads/model/presets.h"
#include "workloads/run/memory_check.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using testing::runMoeprof;
using MemoryCheckTest = testing::TempDirTest;

workloads::ResolvedRun resolved(workloads::RunOptions options) {
  options.out = "unused";
  return workloads::resolveRun(options);
}

TEST_F(MemoryCheckTest, EstimatesWeightsPerRankAndTheStaticGatingSpike) {
  workloads::RunOptions options;
  options.preset = "lm-tiny";
  auto tiny = workloads::estimateRunMemory(resolved(options));
  EXPECT_EQ(tiny.weightBytes, workloads::findPreset("lm-tiny").weightBytes());
  EXPECT_GT(tiny.activationBytes, 0);
  EXPECT_LT(tiny.totalBytes(), int64_t{64} << 20);

  options.ranks = 2;
  EXPECT_EQ(workloads::estimateRunMemory(resolved(options)).weightBytes, 2 * tiny.weightBytes);

  // Static gating's (tokens, experts, capacity) masks grow with the square of the tokens.
  options.ranks = 1;
  options.batch = 65536;
  options.gating = workloads::GatingMode::Static;
  auto spike = workloads::estimateRunMemory(resolved(options));
  EXPECT_GT(spike.activationBytes, int64_t{100} << 30);

  auto available = workloads::availableHostMemory();
  ASSERT_TRUE(available.has_value());
  EXPECT_GT(available->bytes, 0);
  EXPECT_NE(workloads::describeBytes(int64_t{3} << 30).find("3.0 GiB (3221225472 bytes)"),
            std::string::npos);
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST_F(MemoryCheckTest, LmPaperIsRefusedAtOnceWithTheNumbersAndNothingWritten) {
  // The decision itself, without the seconds a loaded machine takes to start the binary.
  workloads::RunOptions options;
  options.preset = "lm-paper";
  auto available = workloads::availableHostMemory();
  if (available &&
      available->bytes > workloads::estimateRunMemory(resolved(options)).totalBytes()) {
    GTEST_SKIP() << "this machine has room for lm-paper";
  }
  auto start = std::chrono::steady_clock::now();
  std::string message =
      testing::inputErrorMessage([&] { workloads::checkRunMemory(resolved(options)); });
  EXPECT_LT(secondsSince(start), 1.0);
  EXPECT_NE(message.find("needs about 194.0 GiB"), std::string::npos) << message;

  start = std::chrono::steady_clock::now();
  auto result = runMoeprof("run --preset lm-paper --out " + path("paper"));
  double seconds = secondsSince(start);
  EXPECT_EQ(result.exitCode, 2) << result.output;
  EXPECT_LT(seconds, 10.0) << "refused only after " << seconds << " s (74 s of allocating before)";
  for (const char* expected :
       {"--preset lm-paper", "needs about", "bytes", "available", "--ignore-memory-check"}) {
    EXPECT_NE(result.output.find(expected), std::string::npos) << expected << "\n" << result.output;
  }
  EXPECT_FALSE(fs::exists(dir_ / "paper"));
}

TEST_F(MemoryCheckTest, AHugeStaticBatchIsRefusedBeforeItsDirectoryExists) {
  auto result =
      runMoeprof("run --preset lm-tiny --batch 65536 --gating static --out " + path("huge"));
  EXPECT_EQ(result.exitCode, 2) << result.output;
  EXPECT_NE(result.output.find("needs about"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("bad_alloc"), std::string::npos) << result.output;
  EXPECT_FALSE(fs::exists(dir_ / "huge"));
  auto sweep = runMoeprof("sweep --preset lm-tiny --batch 2,65536 --out " + path("sweep"));
  EXPECT_EQ(sweep.exitCode, 2) << sweep.output;
  EXPECT_FALSE(fs::exists(dir_ / "sweep")) << "refused before its first run";

  auto help = runMoeprof("run --help");
  EXPECT_NE(help.output.find("--ignore-memory-check"), std::string::npos) << help.output;
}

}  // namespace
}  // namespace moeprof
