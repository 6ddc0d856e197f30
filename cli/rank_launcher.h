#pragma once
// `moeprof run --ranks N` on one machine: starts N copies of this same binary with the same
// arguments as the ranks of one run, telling each who it is the torchrun way (RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1) and where to meet
// (MOEPROF_RENDEZVOUS_FILE, a c10d FileStore in a private directory: no socket but Gloo's on
// the loopback device), and waits for them. Under a cluster launcher the ranks start the binary
// themselves and this is not used.
#include <filesystem>
#include <string>
#include <vector>

namespace moeprof::cli {

// The ranks never outlive the launcher: SIGINT and SIGTERM to it are passed on to them (they stop
// at their next safe point and rank 0 marks run.json interrupted), a second signal or a rank
// that does not stop within a grace period gets SIGKILL, and each rank asks the kernel for
// SIGTERM when the launcher dies (PR_SET_PDEATHSIG), so even `kill -9` of the launcher stops
// them. `runLockFd` (the run directory's lock, collector::RunDirectory) is inherited by the
// ranks, so that the directory stays locked while any of them runs; -1 for none.
//
// Returns the run's exit code: 0 when every rank succeeded, 128 + the signal when the launcher
// was asked to stop, otherwise the first failing rank's (2 stays 2, an interrupted rank's 128 + N
// stays, anything else is 1); the other ranks are then stopped, not left waiting for it.
int launchLocalRanks(int ranks, int runLockFd = -1);

// Runs this same binary with `arguments` (e.g. {"run", "--ranks", "2", ...}) as a child process,
// its stdout and stderr appended to `log`, and waits for it; a stop request is passed on as to
// ranks. For front ends that run multi-rank runs among others (`reproduce --deployment`): the
// ranks of `moeprof run --ranks N` start the binary again with the run's own arguments. Returns
// its exit code as launchLocalRanks does.
int runChildCommand(const std::vector<std::string>& arguments, const std::filesystem::path& log);

}  // namespace moeprof::cli
