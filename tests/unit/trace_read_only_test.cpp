// Traces on read-only storage (issue 19): a finished trace store is one file out of WAL mode,
// and both it and an older store left in WAL mode read from a directory that cannot be written
// (checked as an unprivileged user, since root may write anywhere); a summary of events that end
// before they start is refused rather than printed as negative totals.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "analysis/trace_loader.h"
#include "collector/store/trace_reader.h"
#include "collector/store/trace_store.h"
#include "tests/support/moeprof_command.h"
#include "tests/support/synthetic_trace.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using TraceReadOnlyTest = testing::TempDirTest;

void writeStore(const fs::path& file, int64_t firstEnd = 20) {
  collector::TraceWriter writer(file);
  writer.append(testing::op("aten::mm", 1, 10, firstEnd));
  writer.append(testing::op("aten::add", 1, 30, 40));
  writer.close();
}

// The journal mode a database file's header records: 1 for a rollback journal, 2 for WAL.
int headerJournalMode(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  char header[20] = {};
  in.read(header, sizeof header);
  return header[18];
}

// Reads the store in a child process that cannot write `dir` (chmod 0555; as root, also
// without root's rights); returns "" when it read both operators, else what went wrong.
std::string readWhereNothingCanBeWritten(const fs::path& dir, const fs::path& file) {
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                           fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  int pipeFds[2];
  if (pipe(pipeFds) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid == 0) {
    close(pipeFds[0]);
    std::string problem;
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) problem = "setuid failed";
    if (problem.empty() && access(dir.c_str(), W_OK) == 0) problem = "the directory is writable";
    try {
      if (problem.empty() && collector::TraceReader(file).operators().size() != 2) {
        problem = "wrong operator count";
      }
      if (problem.empty() && analysis::loadTrace(dir).operators.size() != 2) {
        problem = "loadTrace: wrong operator count";
      }
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (write(pipeFds[1], problem.data(), problem.size()) < 0) problem.clear();
    _exit(problem.empty() ? 0 : 1);
  }
  close(pipeFds[1]);
  std::string problem;
  char buffer[512];
  for (ssize_t n; (n = read(pipeFds[0], buffer, sizeof buffer)) > 0;) problem.append(buffer, n);
  close(pipeFds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add);
  if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && problem.empty())) return "child failed";
  return problem;
}

TEST_F(TraceReadOnlyTest, AFinishedStoreLeavesWalModeAndReadsFromAReadOnlyDirectory) {
  const fs::path run = dir_ / "run";
  fs::create_directories(run);
  writeStore(run / collector::kTraceFileName);
  EXPECT_EQ(headerJournalMode(run / collector::kTraceFileName), 1) << "still in WAL mode";
  EXPECT_FALSE(fs::exists(run / "trace.sqlite-wal"));
  EXPECT_FALSE(fs::exists(run / "trace.sqlite-shm"));
  EXPECT_EQ(readWhereNothingCanBeWritten(run, run / collector::kTraceFileName), "");
}

TEST_F(TraceReadOnlyTest, AStoreLeftInWalModeStillReadsFromAReadOnlyDirectory) {
  const fs::path run = dir_ / "run";
  fs::create_directories(run);
  const fs::path file = run / collector::kTraceFileName;
  writeStore(file);
  sqlite3* db = nullptr;  // as an older moeprof left its stores
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  ASSERT_EQ(headerJournalMode(file), 2);
  EXPECT_EQ(readWhereNothingCanBeWritten(run, file), "");
}

TEST_F(TraceReadOnlyTest, EventsEndingBeforeTheyStartAreRefusedNotSummedNegative) {
  writeStore(dir_ / "trace.sqlite", /*firstEnd=*/5);  // aten::mm: start 10, end 5
  auto result = testing::runMoeprof("summary " + path("trace.sqlite"));
  EXPECT_EQ(result.exitCode, 2) << result.output;
  EXPECT_NE(result.output.find("ends before it starts (start 10 ns, end 5 ns)"), std::string::npos)
      << result.output;
}

}  // namespace
}  // namespace moeprof
