#pragma once
// One writer per run directory, and a directory that holds only its run's files: the directory
// is checked before anything is written, locked for the life of the run (an advisory flock on
// .moeprof.lock in it; a second writer is refused with the holder's process id), cleared of
// the files of the run it replaces, and emptied again when the run is refused for bad input.
#include <filesystem>
#include <optional>
#include <string>

#include "collector/errors.h"

namespace moeprof::collector {

inline constexpr const char* kRunLockFileName = ".moeprof.lock";
// Where the files of the run being replaced wait until the new run is kept or discarded.
inline constexpr const char* kReplacedRunDirectoryName = ".moeprof-replaced";
// The environment variable through which `moeprof run --ranks` hands its lock to its ranks.
inline constexpr const char* kRunLockFdVariable = "MOEPROF_RUN_LOCK_FD";

// Whether a file of this name in a run directory is one moeprof writes there: run.json, the
// routing logs, the trace stores (every rank's, with SQLite's side files), their temporaries,
// the lock file and the folder of a replaced run.
bool isRunDirectoryFile(const std::string& fileName);

// Throws InputError unless `out` can become a run directory: missing, an empty directory, one
// holding only moeprof's files, or (with `force`) one holding an earlier run (run.json). A
// non-empty directory without a run is refused even with `force`: moeprof never writes into a
// directory it did not make. Writes nothing.
void checkRunDirectory(const std::filesystem::path& out, bool force);

// A run directory held by this process for the life of its run.
class RunDirectory {
 public:
  // checkRunDirectory, then creates the directory (InputError when it cannot be created or is not
  // writable), locks it (InputError naming the process that holds it), and moves the files of
  // the run it replaces (or of an earlier run that never finished) aside, so that the directory
  // holds nothing but what the new run writes.
  static RunDirectory claim(const std::filesystem::path& out, bool force);
  // In a rank started by `moeprof run --ranks`: the lock its launcher holds on `out`, inherited
  // as the descriptor named by kRunLockFdVariable; nullopt when this process has none for `out`.
  static std::optional<RunDirectory> inherit(const std::filesystem::path& out);

  RunDirectory(RunDirectory&& other) noexcept;
  RunDirectory& operator=(RunDirectory&&) = delete;
  RunDirectory(const RunDirectory&) = delete;
  ~RunDirectory();  // release()

  // The descriptor child processes inherit the lock through (launchers pass it on).
  int lockDescriptor() const { return lockFd_; }
  const std::filesystem::path& path() const { return path_; }

  // The run is over and its files stay (complete, interrupted or failed): the replaced run's
  // files are deleted and the lock is released. Idempotent.
  void release();
  // The run was refused (bad input): removes every moeprof file in the directory (all are the new
  // run's), puts back the files of the run it replaced, removes what claim() created, and
  // releases the lock. Idempotent.
  void discard();

 private:
  RunDirectory() = default;
  void lock();
  void moveAside();
  void unlock();
  void abandon();  // puts back what moveAside() moved, unlocks, removes what claim() created

  std::filesystem::path path_;
  int lockFd_ = -1;
  bool ownsLockFile_ = true;                      // false when inherited: the launcher removes it
  std::optional<std::filesystem::path> created_;  // the topmost directory claim() created
  bool movedAside_ = false;
};

// Runs `run` (which writes into `dir`) and discards the directory when it throws InputError: a run
// refused for bad input leaves nothing behind (and the run it would have replaced as it was).
template <typename Run>
auto runInDirectory(RunDirectory& dir, Run&& run) -> decltype(run()) {
  try {
    return run();
  } catch (const InputError&) {
    dir.discard();
    throw;
  }
}

}  // namespace moeprof::collector
