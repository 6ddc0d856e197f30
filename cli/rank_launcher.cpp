#include "cli/rank_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cli/app.h"
#include "collector/interruption.h"
#include "collector/run_directory.h"
#include "workloads/parallel/rank_environment.h"

namespace moeprof::cli {

namespace {

// A private directory (mode 0700) for the ranks' rendezvous file, removed when the run ends: the
// ranks meet through a c10d FileStore in it, so the rendezvous opens no socket at all, and no
// port can be taken by another process between choosing it and binding it.
class RendezvousDirectory {
 public:
  RendezvousDirectory() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/moeprof-ranks-XXXXXX";
    if (!mkdtemp(pattern.data())) {
      throw std::runtime_error("cannot create a rendezvous directory " + pattern + ": " +
                               std::strerror(errno));
    }
    path_ = pattern;
  }
  ~RendezvousDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  RendezvousDirectory(const RendezvousDirectory&) = delete;
  RendezvousDirectory& operator=(const RendezvousDirectory&) = delete;
  std::string storeFile() const { return (path_ / "store").string(); }

 private:
  std::filesystem::path path_;
};

// This process's own arguments, exactly as it was started.
std::vector<std::string> ownArguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> arguments;
  for (size_t start = 0; start < all.size();) {
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    arguments.push_back(all.substr(start, end - start));
    start = end + 1;
  }
  if (arguments.empty()) throw std::runtime_error("cannot read /proc/self/cmdline");
  return arguments;
}

// How long ranks asked to stop may take to reach a safe point and close their files before
// they get SIGKILL.
constexpr std::chrono::seconds kStopGrace{30};

[[noreturn]] void execRank(const std::vector<std::string>& arguments, int rank, int ranks,
                           const std::string& storeFile, pid_t launcher, int runLockFd) {
  // Die with the launcher, however it ends; it may have ended before this line.
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != launcher) _exit(kExitFailure);
  if (runLockFd >= 0) {
    fcntl(runLockFd, F_SETFD, 0);  // inherited across exec: the rank holds the lock too
    setenv(collector::kRunLockFdVariable, std::to_string(runLockFd).c_str(), 1);
  }
  const std::pair<const char*, std::string> variables[] = {
      {"RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(ranks)},
      {"LOCAL_RANK", std::to_string(rank)},
      {"LOCAL_WORLD_SIZE", std::to_string(ranks)},
      {"MASTER_ADDR", "127.0.0.1"},  // Gloo's connections on the loopback device
      {workloads::kRendezvousFileVariable, storeFile},
  };
  for (const auto& [name, value] : variables) setenv(name, value.c_str(), 1);
  std::vector<char*> argv;
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  execv("/proc/self/exe", argv.data());
  std::fprintf(stderr, "moeprof: failed: cannot start rank %d: %s\n", rank, std::strerror(errno));
  _exit(kExitFailure);
}

int exitCodeOf(int status) {
  if (!WIFEXITED(status)) return kExitFailure;
  int code = WEXITSTATUS(status);
  bool interrupted = code > 128 && code < 160;  // collector::Interrupted::exitCode()
  return code == kExitOk || code == kExitBadInput || interrupted ? code : kExitFailure;
}

void signalAll(const std::vector<pid_t>& ranks, int signal) {
  for (pid_t rank : ranks) kill(rank, signal);
}

// Waits for every rank; passes the launcher's stop request on to them, and stops the others
// when one fails. Ranks that have not ended kStopGrace after being asked to stop, or when a
// second stop request arrives, get SIGKILL.
int waitForRanks(std::vector<pid_t> running) {
  using Clock = std::chrono::steady_clock;
  int result = kExitOk;
  bool forwarded = false, killed = false;
  std::optional<Clock::time_point> deadline;
  auto stopRanks = [&](int signal) {
    signalAll(running, signal);
    if (!deadline) deadline = Clock::now() + kStopGrace;
  };
  while (!running.empty()) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) break;
    if (pid > 0) {
      std::erase(running, pid);
      if (result == kExitOk && exitCodeOf(status) != kExitOk) {
        result = exitCodeOf(status);
        stopRanks(SIGTERM);  // they would wait for it in vain
      }
      continue;
    }
    if (!forwarded && collector::stopSignal() != 0) {
      forwarded = true;
      stopRanks(collector::stopSignal());
    }
    bool late = deadline && Clock::now() > *deadline;
    if (!killed && (collector::stopRequestCount() > 1 || late)) {
      killed = true;
      signalAll(running, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (int signal = collector::stopSignal(); signal != 0) return 128 + signal;
  return result;
}

}  // namespace

int launchLocalRanks(int ranks, int runLockFd) {
  const auto arguments = ownArguments();
  const RendezvousDirectory rendezvous;
  std::fflush(nullptr);
  const pid_t launcher = getpid();
  std::vector<pid_t> running;
  for (int rank = 0; rank < ranks; ++rank) {
    pid_t pid = fork();
    if (pid < 0) {
      for (pid_t child : running) kill(child, SIGTERM);
      throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) execRank(arguments, rank, ranks, rendezvous.storeFile(), launcher, runLockFd);
    running.push_back(pid);
  }
  return waitForRanks(std::move(running));
}

int runChildCommand(const std::vector<std::string>& arguments, const std::filesystem::path& log) {
  std::vector<std::string> argv = {"moeprof"};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  std::fflush(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(kExitFailure);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(kExitFailure);
    std::vector<char*> pointers;
    for (auto& argument : argv) pointers.push_back(argument.data());
    pointers.push_back(nullptr);
    execv("/proc/self/exe", pointers.data());
    std::fprintf(stderr, "moeprof: failed: cannot start %s: %s\n", arguments.front().c_str(),
                 std::strerror(errno));
    _exit(kExitFailure);
  }
  return waitForRanks({pid});
}

}  // namespace moeprof::cli
