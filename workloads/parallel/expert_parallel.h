#pragma once
// The communication of expert parallelism: a group of ranks (one process each, or threads in
// tests) joined through a c10d TCPStore or FileStore (Rendezvous), exchanging tokens with Gloo
// all-to-alls on the CPU (alltoall_base with split sizes, which Gloo supports; its list form it
// does not). The c10d types stay in the .cpp: this header only needs ATen's tensor.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "workloads/parallel/rank_environment.h"

namespace moeprof::workloads {

// What one rank's all-to-alls moved and cost, summed since the group was joined.
struct AllToAllStats {
  int64_t calls = 0;
  int64_t bytesSent = 0;      // to other ranks (the rank's share for itself is a local copy)
  int64_t bytesReceived = 0;  // from other ranks
  int64_t blockedNs = 0;      // time this rank spent starting and waiting for all-to-alls
};

class ExpertParallelGroup {
 public:
  // Joins the group: every rank opens the rendezvous's FileStore, or connects to the TCPStore
  // rank 0 hosts on masterAddr:masterPort. Throws InputError naming the file or address when
  // the rendezvous is not complete within its timeout (nobody listening, a rank missing, the
  // port taken).
  static std::unique_ptr<ExpertParallelGroup> join(const Rendezvous& rendezvous);
  ~ExpertParallelGroup();
  ExpertParallelGroup(const ExpertParallelGroup&) = delete;
  ExpertParallelGroup& operator=(const ExpertParallelGroup&) = delete;

  int rank() const { return rank_; }
  int worldSize() const { return worldSize_; }
  const AllToAllStats& stats() const { return stats_; }

  // An all-to-all under way; wait() blocks until this rank's receive buffer is filled.
  class Pending {
   public:
    Pending(Pending&&) noexcept;
    Pending& operator=(Pending&&) noexcept;
    ~Pending();  // waits when still pending, so a buffer is never freed under a transfer
    void wait();

   private:
    friend class ExpertParallelGroup;
    struct Work;
    Pending(std::unique_ptr<Work> work, AllToAllStats* stats);
    std::unique_ptr<Work> work_;
    AllToAllStats* stats_ = nullptr;
  };

  // Starts an all-to-all along dim 0: sendRows[j] consecutive rows of `send` go to rank j, and
  // `recv` (allocated by the caller, recvRows[i] rows from rank i, in rank order) is filled.
  // Both tensors must be contiguous, of one dtype, and stay alive until wait().
  Pending startAllToAll(at::Tensor& recv, const at::Tensor& send,
                        const std::vector<int64_t>& recvRows, const std::vector<int64_t>& sendRows);
  // The same, blocking, with the receive buffer allocated here.
  at::Tensor allToAll(const at::Tensor& send, const std::vector<int64_t>& recvRows,
                      const std::vector<int64_t>& sendRows);

  // Every rank's text, in rank order, on rank 0; the other ranks get an empty vector. Goes
  // through the store, so it works for texts of any size.
  std::vector<std::string> gatherToRoot(const std::string& text);
  void barrier();
  // The largest of every rank's `value` on every rank (an all-reduce): how the ranks agree to
  // stop at the same batch when any of them was asked to.
  int64_t maxOverRanks(int64_t value);

 private:
  struct Impl;
  explicit ExpertParallelGroup(std::unique_ptr<Impl> impl, int rank, int worldSize);
  std::unique_ptr<Impl> impl_;
  int rank_;
  int worldSize_;
  AllToAllStats stats_;
  int64_t gathers_ = 0;
};

}  // namespace moeprof::workloads
