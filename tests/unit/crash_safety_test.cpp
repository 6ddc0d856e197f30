// A traced run killed with SIGKILL: the trace store opens and keeps every event a reader saw
// committed before the kill (at most one flush interval is lost), and run.json says incomplete.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "collector/run_manifest.h"
#include "collector/store/trace_reader.h"
#include "collector/store/trace_store.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using CrashSafetyTest = testing::TempDirTest;

// Starts `moeprof run` on a long lm-tiny measurement and returns its pid.
pid_t startLongRun(const std::string& out) {
  pid_t pid = fork();
  if (pid == 0) {
    execl(MOEPROF_BINARY, MOEPROF_BINARY, "run", "--preset", "lm-tiny", "--trace", "full",
          "--repeats", "10000", "--out", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

size_t committedOperators(const fs::path& store) {
  try {
    return collector::TraceReader(store).operators().size();
  } catch (const std::exception&) {
    return 0;  // not created yet, or its schema not yet committed
  }
}

TEST_F(CrashSafetyTest, SigkillKeepsEverythingFlushedAndMarksTheRunIncomplete) {
  fs::path store = fs::path(path("run")) / collector::kTraceFileName;
  pid_t pid = startLongRun(path("run"));
  ASSERT_GT(pid, 0);
  // Wait for the writer's periodic commits (at least once a second) to show events.
  size_t seen = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((seen = committedOperators(store)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GT(seen, 0u) << "no committed events within 60 s";
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // at least one more flush
  seen = committedOperators(store);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  collector::TraceReader trace(store);
  EXPECT_GE(trace.operators().size(), seen) << "events committed before the kill were lost";
  EXPECT_FALSE(trace.ranges().empty());
  EXPECT_FALSE(trace.memory().empty());
  EXPECT_EQ(collector::readManifest(path("run")).status, collector::RunStatus::Incomplete);
}

}  // namespace
}  // namespace moeprof
