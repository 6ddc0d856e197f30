#include "cli/rank_launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/app.h"

namespace moeprof::cli {

namespace {

// A port nobody listens on now: the kernel picks it for a socket bound to port 0. Rank 0 binds
// it moments later; another process taking it in between makes the run fail with exit 2.
int freeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  int error = errno;
  close(fd);
  if (!ok) throw std::runtime_error(std::string("no free port on 127.0.0.1: ") + strerror(error));
  return ntohs(address.sin_port);
}

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

[[noreturn]] void execRank(const std::vector<std::string>& arguments, int rank, int ranks,
                           int port) {
  const std::pair<const char*, std::string> variables[] = {
      {"RANK", std::to_string(rank)},       {"WORLD_SIZE", std::to_string(ranks)},
      {"LOCAL_RANK", std::to_string(rank)}, {"LOCAL_WORLD_SIZE", std::to_string(ranks)},
      {"MASTER_ADDR", "127.0.0.1"},         {"MASTER_PORT", std::to_string(port)},
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
  return code == kExitOk || code == kExitBadInput ? code : kExitFailure;
}

}  // namespace

int launchLocalRanks(int ranks) {
  const auto arguments = ownArguments();
  const int port = freeLoopbackPort();
  std::fflush(nullptr);
  std::vector<pid_t> running;
  for (int rank = 0; rank < ranks; ++rank) {
    pid_t pid = fork();
    if (pid < 0) {
      for (pid_t child : running) kill(child, SIGTERM);
      throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) execRank(arguments, rank, ranks, port);
    running.push_back(pid);
  }
  int result = kExitOk;
  while (!running.empty()) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) break;
    std::erase(running, pid);
    if (result == kExitOk && exitCodeOf(status) != kExitOk) {
      result = exitCodeOf(status);
      for (pid_t child : running) kill(child, SIGTERM);  // they would wait for it in vain
    }
  }
  return result;
}

}  // namespace moeprof::cli
