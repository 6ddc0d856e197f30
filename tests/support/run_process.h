#pragma once
// Test support: `moeprof run` started in the background (for the tests that stop it, kill it,
// or run a second writer beside it), the processes it started, and waiting for them to end.
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace moeprof::testing {

// Starts `moeprof run ARGS...` with stdout and stderr to `log`; returns its pid.
inline pid_t startMoeprofRun(const std::vector<std::string>& arguments,
                             const std::filesystem::path& log) {
  std::vector<std::string> all{MOEPROF_BINARY, "run"};
  all.insert(all.end(), arguments.begin(), arguments.end());
  pid_t pid = fork();
  if (pid == 0) {
    FILE* out = std::fopen(log.c_str(), "w");
    if (out) {
      dup2(fileno(out), 1);
      dup2(fileno(out), 2);
    }
    std::vector<char*> argv;
    for (auto& argument : all) argv.push_back(argument.data());
    argv.push_back(nullptr);
    execv(MOEPROF_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
inline bool waitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// Whether the process is gone (or a zombie: it has ended, only nobody reaped it yet).
inline bool processEnded(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  auto close = text.rfind(')');
  return close == std::string::npos || text.substr(close + 2, 1) == "Z" ||
         text.substr(close + 2, 1) == "X";
}

// The processes whose parent is `parent`.
inline std::vector<pid_t> childrenOf(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text;
    if (!std::getline(stat, text)) continue;
    auto close = text.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(text.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent &&
        state != 'Z') {
      children.push_back(std::stoi(name));
    }
  }
  return children;
}

// Waits for a child of this process; returns its exit code, 128 + N when signal N ended it, or
// -1 when it did not end within `timeout` (it is then killed).
inline int waitForExit(pid_t pid, std::chrono::seconds timeout = std::chrono::seconds(120)) {
  int status = 0;
  bool ended = waitUntil([&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline std::string fileText(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace moeprof::testing
