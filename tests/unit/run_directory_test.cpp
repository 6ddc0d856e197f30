// Run directories you can trust (issue 19): one writer at a time (a second exits 2 naming the
// first), --force leaves only the new run's files and never writes into a directory that holds
// no run, and a run refused for bad input leaves nothing behind.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "collector/run_directory.h"
#include "collector/run_manifest.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "tests/support/run_process.h"
#include "workloads/checkpoints/checkpoint.h"
#include "workloads/model/models.h"
#include "workloads/model/presets.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using collector::RunDirectory;
using testing::inputErrorMessage;
using testing::runMoeprof;
using RunDirectoryTest = testing::TempDirTest;

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

const std::string kQuick = " --preset lm-tiny --repeats 1 --warmup 0 --threads 1";

TEST_F(RunDirectoryTest, OnlyMoeprofsOwnFileNamesCount) {
  for (const char* own :
       {"run.json", "run.json.tmp", "routing.bin", "routing.rank3.bin", "trace.sqlite",
        "trace.sqlite-wal", "trace.rank12.sqlite-shm", ".moeprof.lock", ".moeprof-replaced"}) {
    EXPECT_TRUE(collector::isRunDirectoryFile(own)) << own;
  }
  for (const char* other : {"notes.txt", "run.json.bak", "trace.rankX.sqlite", "summary.md"}) {
    EXPECT_FALSE(collector::isRunDirectoryFile(other)) << other;
  }
}

TEST_F(RunDirectoryTest, ASecondClaimIsRefusedNamingTheHolderAndDiscardUndoesTheFirst) {
  fs::path out = dir_ / "new" / "run";
  {
    RunDirectory dir = RunDirectory::claim(out, false);
    EXPECT_TRUE(fs::exists(out / collector::kRunLockFileName));
    std::string refused = inputErrorMessage([&] { RunDirectory::claim(out, true); });
    EXPECT_NE(refused.find("in use"), std::string::npos) << refused;
    EXPECT_NE(refused.find("process " + std::to_string(getpid())), std::string::npos) << refused;
    std::ofstream(out / "routing.bin") << "partial";
    dir.discard();
  }
  EXPECT_FALSE(fs::exists(dir_ / "new")) << "claim created it, discard removes it";
}

TEST_F(RunDirectoryTest, AReplacedRunWaitsAsideAndComesBackWhenTheNewOneIsDiscarded) {
  fs::path out = dir_ / "run";
  fs::create_directories(out);
  std::ofstream(out / "run.json") << "old";
  std::ofstream(out / "trace.rank1.sqlite") << "old";
  std::ofstream(out / "notes.txt") << "mine";
  EXPECT_NE(inputErrorMessage([&] { RunDirectory::claim(out, false); }).find("--force"),
            std::string::npos);
  {
    RunDirectory dir = RunDirectory::claim(out, true);
    EXPECT_EQ(entries(out),
              (std::set<std::string>{".moeprof.lock", ".moeprof-replaced", "notes.txt"}));
    std::ofstream(out / "run.json") << "new";
    dir.discard();
  }
  EXPECT_EQ(entries(out), (std::set<std::string>{"run.json", "trace.rank1.sqlite", "notes.txt"}));
  EXPECT_EQ(testing::fileText(out / "run.json"), "old");
  {
    RunDirectory dir = RunDirectory::claim(out, true);
    std::ofstream(out / "run.json") << "new";
  }  // kept: the replaced run is gone, the user's notes stay
  EXPECT_EQ(entries(out), (std::set<std::string>{"run.json", "notes.txt"}));
}

TEST_F(RunDirectoryTest, ForceRefusesADirectoryThatHoldsNoRun) {
  fs::create_directories(dir_ / "mine");
  std::ofstream(dir_ / "mine" / "notes.txt") << "keep";
  auto result = runMoeprof("run" + kQuick + " --force --out " + path("mine"));
  EXPECT_EQ(result.exitCode, 2) << result.output;
  EXPECT_NE(result.output.find("holds no moeprof run"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("notes.txt"), std::string::npos) << result.output;
  EXPECT_EQ(entries(dir_ / "mine"), std::set<std::string>{"notes.txt"});

  auto root = runMoeprof("run" + kQuick + " --force --out /");
  EXPECT_EQ(root.exitCode, 2) << root.output;
  EXPECT_NE(root.output.find("holds no moeprof run"), std::string::npos) << root.output;
  EXPECT_FALSE(fs::exists("/run.json"));
  EXPECT_FALSE(fs::exists("/routing.bin"));
}

TEST_F(RunDirectoryTest, ForceOverATwoRankRunLeavesOnlyTheNewRunsFiles) {
  auto two = runMoeprof("run" + kQuick + " --ranks 2 --trace ops --out " + path("run"));
  ASSERT_EQ(two.exitCode, 0) << two.output;
  ASSERT_TRUE(fs::exists(dir_ / "run" / "trace.rank1.sqlite"));

  auto traced = runMoeprof("run" + kQuick + " --trace ops --force --out " + path("run"));
  ASSERT_EQ(traced.exitCode, 0) << traced.output;
  EXPECT_EQ(entries(dir_ / "run"),
            (std::set<std::string>{"run.json", "routing.bin", "trace.sqlite"}));
  auto summary = runMoeprof("summary " + path("run"));
  ASSERT_EQ(summary.exitCode, 0) << summary.output;
  EXPECT_EQ(summary.output.find("rank"), std::string::npos) << "a stale rank merged in:\n"
                                                            << summary.output;

  auto untraced = runMoeprof("run" + kQuick + " --force --out " + path("run"));
  ASSERT_EQ(untraced.exitCode, 0) << untraced.output;
  EXPECT_EQ(entries(dir_ / "run"), (std::set<std::string>{"run.json", "routing.bin"}));
  auto stale = runMoeprof("summary " + path("run"));
  EXPECT_EQ(stale.exitCode, 2) << "the replaced run's trace was read: " << stale.output;
}

TEST_F(RunDirectoryTest, TwoRunsOnOneDirectoryTheSecondExitsTwoNamingTheFirst) {
  const fs::path out = dir_ / "run";
  pid_t first = testing::startMoeprofRun(
      {"--preset", "lm-tiny", "--repeats", "10000", "--threads", "1", "--out", out.string()},
      dir_ / "first.log");
  ASSERT_GT(first, 0);
  ASSERT_TRUE(testing::waitUntil([&] { return fs::exists(out / collector::kManifestFileName); }));
  auto second = runMoeprof("run" + kQuick + " --force --out " + out.string());
  EXPECT_EQ(second.exitCode, 2) << second.output;
  EXPECT_NE(second.output.find("in use"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("process " + std::to_string(first)), std::string::npos)
      << second.output;
  kill(first, SIGTERM);
  EXPECT_EQ(testing::waitForExit(first), 143) << testing::fileText(dir_ / "first.log");
  EXPECT_EQ(collector::readManifest(out).config["repeats"], 10000) << "the first run's own";
}

// A checkpoint whose weights file is cut short: config.json reads, the weights do not.
fs::path badCheckpoint(const fs::path& dir) {
  workloads::LmModel model(workloads::findPreset("lm-tiny"), 3, at::kCPU);
  workloads::saveCheckpoint(model, dir);
  fs::resize_file(dir / workloads::kSafetensorsFileName, 200);
  return dir;
}

TEST_F(RunDirectoryTest, ABadCheckpointLeavesNothingBehindAlsoWithRanksAndInASweep) {
  const std::string checkpoint = badCheckpoint(dir_ / "bad").string();
  const std::string common = " --checkpoint " + checkpoint + " --repeats 1 --threads 1";
  for (const std::string& extra : {std::string(), std::string(" --ranks 2")}) {
    auto result = runMoeprof("run" + common + extra + " --out " + path("new/run"));
    EXPECT_EQ(result.exitCode, 2) << extra << "\n" << result.output;
    EXPECT_FALSE(fs::exists(dir_ / "new")) << extra << "\n" << result.output;
  }
  auto sweep = runMoeprof("sweep" + common + " --out " + path("sweep"));
  EXPECT_EQ(sweep.exitCode, 2) << sweep.output;
  EXPECT_FALSE(fs::exists(dir_ / "sweep")) << sweep.output;

  // Over an earlier run with --force: the earlier run stays as it was.
  auto earlier = runMoeprof("run" + kQuick + " --out " + path("run"));
  ASSERT_EQ(earlier.exitCode, 0) << earlier.output;
  const std::string manifest = testing::fileText(dir_ / "run" / "run.json");
  auto replaced = runMoeprof("run" + common + " --force --out " + path("run"));
  EXPECT_EQ(replaced.exitCode, 2) << replaced.output;
  EXPECT_EQ(testing::fileText(dir_ / "run" / "run.json"), manifest);
  EXPECT_EQ(entries(dir_ / "run"), (std::set<std::string>{"run.json", "routing.bin"}));
  // ... and the retry needs no --force when nothing was written.
  auto retry = runMoeprof("run" + kQuick + " --out " + path("new/run"));
  EXPECT_EQ(retry.exitCode, 0) << retry.output;
}

TEST_F(RunDirectoryTest, AnOutThatCannotBeWrittenExitsTwoSayingSo) {
  auto result = runMoeprof("run" + kQuick + " --out /proc/moeprof-test/run");
  EXPECT_EQ(result.exitCode, 2) << result.output;
  EXPECT_NE(result.output.find("--out '/proc/moeprof-test/run' cannot be created"),
            std::string::npos)
      << result.output;
  std::ofstream(dir_ / "file") << "x";
  auto file = runMoeprof("run" + kQuick + " --out " + path("file"));
  EXPECT_EQ(file.exitCode, 2) << file.output;
  EXPECT_NE(file.output.find("is not a directory"), std::string::npos) << file.output;
}

}  // namespace
}  // namespace moeprof
