#pragma once
// Who this process is in a multi-rank (expert-parallel) run and where the ranks meet. Read from
// the variables launchers already set, so that a cluster user needs no new launcher:
// torchrun-style RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT, Open MPI's
// OMPI_COMM_WORLD_RANK / _SIZE, or Slurm's SLURM_PROCID / SLURM_NTASKS. `moeprof run --ranks N`
// sets RANK / WORLD_SIZE / MASTER_ADDR=127.0.0.1 and MOEPROF_RENDEZVOUS_FILE for the processes
// it spawns. Torch-free.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace moeprof::workloads {

// Where the ranks meet, and this process's place: the c10d TCPStore that rank 0 hosts at
// masterAddr:masterPort, or, when storeFile is set, a c10d FileStore in that file, which opens
// no socket at all (ranks on one machine, or on a shared file system). Gloo's own connections
// use the loopback device when masterAddr is a loopback address.
struct Rendezvous {
  int rank = 0;
  int worldSize = 1;
  std::string masterAddr = "127.0.0.1";
  uint16_t masterPort = 29500;  // c10d's default port
  // How long joining may take (the store, then Gloo's connections); a short wait, so that an
  // unreachable rendezvous fails in seconds rather than c10d's default of minutes.
  std::chrono::milliseconds timeout{30000};
  std::string storeFile;  // MOEPROF_RENDEZVOUS_FILE; empty: the TCPStore
};

// Looks a variable up; null when it is not set. Tests pass a fake environment.
using EnvironmentLookup = std::function<const char*(const char* name)>;
EnvironmentLookup processEnvironment();

// The rank and world of this process, or nullopt when no launcher variables are set. RANK wins
// over OMPI_COMM_WORLD_RANK, which wins over SLURM_PROCID. MASTER_ADDR and MASTER_PORT default
// to 127.0.0.1:29500; MOEPROF_RENDEZVOUS_FILE, when set, replaces the TCPStore. Throws InputError
// naming the variable when a value is malformed (not a number, rank outside 0..world-1, port
// outside 1..65535).
std::optional<Rendezvous> rendezvousFromEnvironment(const EnvironmentLookup& lookup);

// Ranks on this machine (LOCAL_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_SIZE or SLURM_NTASKS_PER_NODE;
// default 1): the cores are shared among them.
int localWorldSize(const EnvironmentLookup& lookup);

inline constexpr const char* kRendezvousFileVariable = "MOEPROF_RENDEZVOUS_FILE";

}  // namespace moeprof::workloads
