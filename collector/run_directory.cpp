#include "collector/run_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <system_error>
#include <vector>

#include "collector/errors.h"
#include "collector/run_manifest.h"

namespace moeprof::collector {

namespace fs = std::filesystem;

namespace {

// What a run writes: run.json (and its temporary), routing.bin and the ranks' routing logs,
// trace.sqlite and the ranks' traces with SQLite's side files, and this file's own two names.
const std::regex kRunFile(
    R"((run\.json(\.tmp)?|routing(\.rank[0-9]+)?\.bin|trace(\.rank[0-9]+)?\.sqlite(-wal|-shm|-journal)?|\.moeprof\.lock|\.moeprof-replaced))");

std::string quoted(const fs::path& path) {
  return "'" + path.string() + "'";
}

// The names in `dir` that are not moeprof's, at most a few for a message.
std::vector<std::string> foreignEntries(const fs::path& dir, size_t limit) {
  std::vector<std::string> names;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    std::string name = it->path().filename().string();
    if (!isRunDirectoryFile(name) && names.size() < limit) names.push_back(name);
  }
  if (error) {
    throw InputError("--out " + quoted(dir) + " cannot be read: " + error.message());
  }
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "'" : ", '") + name + "'";
  return text;
}

// Creates `out` and any missing parents; returns the topmost directory it created.
std::optional<fs::path> createDirectory(const fs::path& out) {
  std::error_code error;
  if (fs::exists(out, error)) return std::nullopt;
  fs::path topmost = out;
  for (fs::path p = out.parent_path(); !p.empty() && !fs::exists(p, error); p = p.parent_path()) {
    topmost = p;
    if (p == p.parent_path()) break;
  }
  fs::create_directories(out, error);
  if (error) {
    throw InputError("--out " + quoted(out) + " cannot be created: " + error.message() +
                     " (choose a directory you can write)");
  }
  return topmost;
}

void requireWritable(const fs::path& out) {
  if (::access(out.c_str(), W_OK | X_OK) != 0) {
    throw InputError("--out " + quoted(out) + " is not writable: " + std::strerror(errno) +
                     " (choose a directory you can write)");
  }
}

// The process id a lock file names, "unknown" when it names none.
std::string holderOf(int fd) {
  char text[32] = {};
  ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  std::string pid = n > 0 ? std::string(text, static_cast<size_t>(n)) : "";
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "unknown" : pid;
}

bool sameFile(int fd, const fs::path& path) {
  struct stat open {
  }, named{};
  return ::fstat(fd, &open) == 0 && ::stat(path.c_str(), &named) == 0 &&
         open.st_dev == named.st_dev && open.st_ino == named.st_ino;
}

}  // namespace

bool isRunDirectoryFile(const std::string& fileName) {
  return std::regex_match(fileName, kRunFile);
}

void checkRunDirectory(const fs::path& out, bool force) {
  if (out.empty()) throw InputError("--out is required: the run directory to write");
  std::error_code error;
  if (!fs::exists(out, error)) return;
  if (!fs::is_directory(out, error)) {
    throw InputError("--out " + quoted(out) + " exists and is not a directory");
  }
  const bool holdsRun = fs::exists(out / kManifestFileName, error);
  if (holdsRun && !force) {
    throw InputError("--out " + quoted(out) +
                     " already holds a run (run.json); choose a new directory or pass --force");
  }
  if (holdsRun) return;  // --force: its moeprof files are replaced, anything else stays
  auto foreign = foreignEntries(out, 3);
  if (!foreign.empty()) {
    throw InputError("--out " + quoted(out) + " is not empty and holds no moeprof run (no " +
                     kManifestFileName + "; it holds " + joined(foreign) +
                     "): moeprof writes a run only into a new or empty directory, or with "
                     "--force over an earlier run; choose a new directory");
  }
}

RunDirectory RunDirectory::claim(const fs::path& out, bool force) {
  checkRunDirectory(out, force);
  RunDirectory dir;
  dir.path_ = out.has_filename() ? out : out.parent_path();  // "run/" is "run"
  dir.created_ = createDirectory(dir.path_);
  try {
    requireWritable(dir.path_);
    dir.lock();
    checkRunDirectory(out, force);  // again: a run may have ended here before the lock was ours
    dir.moveAside();
  } catch (...) {
    dir.abandon();  // what is there belongs to another run: only undo what claim() did
    throw;
  }
  return dir;
}

std::optional<RunDirectory> RunDirectory::inherit(const fs::path& out) {
  const char* variable = std::getenv(kRunLockFdVariable);
  if (!variable || !*variable) return std::nullopt;
  char* end = nullptr;
  long fd = std::strtol(variable, &end, 10);
  if (*end != '\0' || fd < 0 || fd > 1 << 20) return std::nullopt;
  int descriptor = static_cast<int>(fd);
  // The same open file as the launcher's, so the launcher's lock is this process's too.
  if (!sameFile(descriptor, out / kRunLockFileName)) return std::nullopt;
  if (::flock(descriptor, LOCK_EX | LOCK_NB) != 0) return std::nullopt;
  ::fcntl(descriptor, F_SETFD, FD_CLOEXEC);
  RunDirectory dir;
  dir.path_ = out;
  dir.lockFd_ = descriptor;
  dir.ownsLockFile_ = false;
  return dir;
}

RunDirectory::RunDirectory(RunDirectory&& other) noexcept
    : path_(std::move(other.path_)),
      lockFd_(other.lockFd_),
      ownsLockFile_(other.ownsLockFile_),
      created_(std::move(other.created_)),
      movedAside_(other.movedAside_) {
  other.lockFd_ = -1;
  other.created_.reset();
  other.movedAside_ = false;
  other.ownsLockFile_ = false;
}

RunDirectory::~RunDirectory() {
  try {
    release();
  } catch (...) {  // a destructor must not throw; what stays behind is only a stale folder
  }
}

void RunDirectory::lock() {
  const fs::path file = path_ / kRunLockFileName;
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw InputError("--out " + quoted(path_) + " is not writable: cannot create " +
                       file.string() + ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int error = errno;
      std::string holder = holderOf(fd);
      ::close(fd);
      if (error != EWOULDBLOCK) {
        throw InputError("--out " + quoted(path_) + ": cannot lock " + file.string() + ": " +
                         std::strerror(error));
      }
      throw InputError("--out " + quoted(path_) + " is in use: moeprof process " + holder +
                       " is writing a run there (it holds " + file.string() +
                       "); wait for it to end or choose another directory");
    }
    // The holder before us may have removed the file between our open and our lock.
    if (!sameFile(fd, file)) {
      ::close(fd);
      continue;
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
      std::string message = std::strerror(errno);
      ::close(fd);
      throw InputError("--out " + quoted(path_) + " is not writable: " + file.string() + ": " +
                       message);
    }
    lockFd_ = fd;
    return;
  }
  throw std::runtime_error("cannot lock " + file.string() + ": it keeps being replaced");
}

void RunDirectory::moveAside() {
  const fs::path replaced = path_ / kReplacedRunDirectoryName;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(path_)) {
    const std::string name = entry.path().filename().string();
    if (isRunDirectoryFile(name) && name != kRunLockFileName && name != kReplacedRunDirectoryName) {
      files.push_back(entry.path());
    }
  }
  fs::remove_all(replaced);  // a run replaced before, whose writer was killed
  if (files.empty()) return;
  fs::create_directory(replaced);
  movedAside_ = true;
  for (const auto& file : files) fs::rename(file, replaced / file.filename());
}

void RunDirectory::unlock() {
  if (lockFd_ < 0) return;
  std::error_code ignored;
  if (ownsLockFile_) fs::remove(path_ / kRunLockFileName, ignored);
  ::close(lockFd_);
  lockFd_ = -1;
}

void RunDirectory::release() {
  if (movedAside_) {
    std::error_code ignored;
    fs::remove_all(path_ / kReplacedRunDirectoryName, ignored);
    movedAside_ = false;
  }
  unlock();
  created_.reset();
}

void RunDirectory::discard() {
  if (lockFd_ >= 0 && ownsLockFile_) {  // every moeprof file here is the discarded run's
    std::error_code ignored;
    for (fs::directory_iterator it(path_, ignored), end; !ignored && it != end;
         it.increment(ignored)) {
      const std::string name = it->path().filename().string();
      if (isRunDirectoryFile(name) && name != kRunLockFileName &&
          name != kReplacedRunDirectoryName) {
        std::error_code error;
        fs::remove_all(it->path(), error);
      }
    }
  }
  abandon();
}

void RunDirectory::abandon() {
  std::error_code ignored;
  if (movedAside_) {
    const fs::path replaced = path_ / kReplacedRunDirectoryName;
    for (fs::directory_iterator it(replaced, ignored), end; !ignored && it != end;
         it.increment(ignored)) {
      std::error_code error;
      fs::rename(it->path(), path_ / it->path().filename(), error);
    }
    fs::remove_all(replaced, ignored);
    movedAside_ = false;
  }
  unlock();
  if (created_) {  // from the run directory up to the first directory claim() made, if empty
    for (fs::path p = path_; !p.empty(); p = p.parent_path()) {
      if (!fs::is_empty(p, ignored) || !fs::remove(p, ignored)) break;
      if (p == *created_) break;
    }
    created_.reset();
  }
}

}  // namespace moeprof::collector
