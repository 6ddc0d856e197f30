// Stopping runs (issue 19): SIGINT and SIGTERM stop a run at its next batch with its files closed
// and run.json "interrupted" (exit 130 / 143), `compare` and `summary` say so first, and the
// ranks of a multi-rank run never outlive their launcher, however it ends.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <string>
#include <vector>

#include "collector/interruption.h"
#include "collector/routing_log.h"
#include "collector/run_manifest.h"
#include "collector/store/trace_reader.h"
#include "collector/store/trace_store.h"
#include "tests/support/moeprof_command.h"
#include "tests/support/run_process.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using testing::runMoeprof;
using InterruptionTest = testing::TempDirTest;

std::vector<std::string> longRun(const fs::path& out, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> arguments{"--preset", "lm-tiny", "--repeats", "10000", "--threads",
                                     "1",        "--trace", "ops",       "--out", out.string()};
  arguments.insert(arguments.end(), extra.begin(), extra.end());
  return arguments;
}

// Waits until the run has measured a few batches (its routing log has grown past the header).
bool measuring(const fs::path& out, const std::string& log = "routing.bin") {
  return testing::waitUntil([&] {
    std::error_code missing;
    auto bytes = fs::file_size(out / log, missing);  // (uintmax_t)-1 when missing
    return !missing && bytes > 64 * 1024 + 100 &&
           fs::exists(out / collector::kManifestFileName, missing);
  });
}

TEST(StopSignalsTest, TheFirstSignalIsARequestThatASafePointTurnsIntoInterrupted) {
  collector::clearStopRequest();
  collector::StopSignals signals(/*escalate=*/false);
  EXPECT_NO_THROW(collector::throwIfStopRequested("nowhere"));
  raise(SIGTERM);
  raise(SIGTERM);  // counted, the process lives on
  EXPECT_EQ(collector::stopSignal(), SIGTERM);
  EXPECT_EQ(collector::stopRequestCount(), 2);
  try {
    collector::throwIfStopRequested("before measured batch 3 of 10");
    ADD_FAILURE() << "no Interrupted thrown";
  } catch (const collector::Interrupted& stop) {
    EXPECT_EQ(stop.exitCode(), 143);
    EXPECT_STREQ(stop.what(), "SIGTERM received; stopped before measured batch 3 of 10");
  }
  collector::clearStopRequest();
}

TEST_F(InterruptionTest, SigintStopsTheRunClosesItsFilesAndMarksItInterrupted) {
  const fs::path out = dir_ / "run";
  pid_t pid = testing::startMoeprofRun(longRun(out), dir_ / "run.log");
  ASSERT_TRUE(measuring(out)) << testing::fileText(dir_ / "run.log");
  kill(pid, SIGINT);
  EXPECT_EQ(testing::waitForExit(pid), 130) << testing::fileText(dir_ / "run.log");
  EXPECT_NE(testing::fileText(dir_ / "run.log").find("moeprof: interrupted: SIGINT"),
            std::string::npos)
      << testing::fileText(dir_ / "run.log");

  auto manifest = collector::readManifest(out);
  EXPECT_EQ(manifest.status, collector::RunStatus::Interrupted);
  EXPECT_NE(manifest.statusReason.find("SIGINT received; stopped before measured batch"),
            std::string::npos)
      << manifest.statusReason;
  // The trace is closed (no WAL left) and the routing log ends with a whole record.
  EXPECT_FALSE(fs::exists(out / "trace.sqlite-wal"));
  EXPECT_FALSE(collector::TraceReader(out / "trace.sqlite").operators().empty());
  auto log = collector::readRoutingLog(out / "routing.bin");
  EXPECT_FALSE(log.records.empty());
  EXPECT_TRUE(log.warning.empty()) << log.warning;
  EXPECT_FALSE(fs::exists(out / ".moeprof.lock"));

  auto summary = runMoeprof("summary " + out.string());
  ASSERT_EQ(summary.exitCode, 0) << summary.output;
  EXPECT_EQ(summary.output.rfind("note: run " + out.string() + " was interrupted (SIGINT", 0), 0u)
      << summary.output;
  auto complete = runMoeprof("run --preset lm-tiny --repeats 1 --threads 1 --out " + path("b"));
  ASSERT_EQ(complete.exitCode, 0) << complete.output;
  auto compare = runMoeprof("compare " + path("b") + " " + out.string());
  ASSERT_EQ(compare.exitCode, 0) << compare.output;
  EXPECT_EQ(compare.output.rfind("note: run " + out.string() + " was interrupted", 0), 0u)
      << compare.output;
}

TEST_F(InterruptionTest, CompareSaysFirstThatARunIsIncomplete) {
  auto a = runMoeprof("run --preset lm-tiny --repeats 1 --threads 1 --out " + path("a"));
  ASSERT_EQ(a.exitCode, 0) << a.output;
  auto manifest = collector::readManifest(dir_ / "a");
  manifest.status = collector::RunStatus::Incomplete;
  manifest.metrics = nlohmann::json::object();  // killed before its metrics
  collector::writeManifest(dir_ / "killed", manifest);
  auto compare = runMoeprof("compare " + path("a") + " " + path("killed"));
  EXPECT_EQ(compare.output.rfind("note: run " + path("killed") + " is incomplete", 0), 0u)
      << compare.output;
}

// The ranks of a 2-rank run, once both run.
std::vector<pid_t> ranksOf(pid_t launcher) {
  std::vector<pid_t> ranks;
  testing::waitUntil([&] { return (ranks = testing::childrenOf(launcher)).size() == 2; });
  return ranks;
}

class KillTheLauncherTest : public InterruptionTest, public ::testing::WithParamInterface<int> {};

TEST_P(KillTheLauncherTest, NoRankSurvivesItsLauncher) {
  const int signal = GetParam();
  const fs::path out = dir_ / "run";
  pid_t launcher = testing::startMoeprofRun(longRun(out, {"--ranks", "2"}), dir_ / "launcher.log");
  std::vector<pid_t> ranks = ranksOf(launcher);
  ASSERT_EQ(ranks.size(), 2u) << testing::fileText(dir_ / "launcher.log");
  ASSERT_TRUE(measuring(out, "routing.rank0.bin")) << testing::fileText(dir_ / "launcher.log");
  kill(launcher, signal);
  int code = testing::waitForExit(launcher);
  if (signal != SIGKILL) EXPECT_EQ(code, 128 + signal) << testing::fileText(dir_ / "launcher.log");
  for (pid_t rank : ranks) {
    EXPECT_TRUE(testing::waitUntil([&] { return testing::processEnded(rank); }))
        << "rank process " << rank << " outlived its launcher (" << signal << ")";
  }
  // Rank 0 stopped cleanly: the run says it was interrupted, not complete, and the ranks'
  // routing logs, stopped before the same batch, are merged into one.
  EXPECT_EQ(collector::readManifest(out).status, collector::RunStatus::Interrupted)
      << testing::fileText(dir_ / "launcher.log");
  EXPECT_FALSE(collector::readRoutingLog(out / "routing.bin").records.empty());
  EXPECT_FALSE(fs::exists(out / "routing.rank1.bin"));
}

INSTANTIATE_TEST_SUITE_P(Signals, KillTheLauncherTest, ::testing::Values(SIGTERM, SIGKILL),
                         [](const auto& info) {
                           return std::string(info.param == SIGKILL ? "Sigkill" : "Sigterm");
                         });

}  // namespace
}  // namespace moeprof
