#pragma once
// `moeprof run --ranks N` on one machine: starts N copies of this same binary with the same
// arguments as the ranks of one run, telling each who it is the torchrun way (RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1) and where to meet
// (MOEPROF_RENDEZVOUS_FILE, a c10d FileStore in a private directory: no socket but Gloo's on
// the loopback device), and waits for them. Under a cluster launcher the ranks start the binary
// themselves and this is not used.
namespace moeprof::cli {

// Returns the run's exit code: 0 when every rank succeeded, otherwise the first failing rank's
// (2 stays 2, anything else is 1); the other ranks are then stopped, not left waiting for it.
int launchLocalRanks(int ranks);

}  // namespace moeprof::cli
