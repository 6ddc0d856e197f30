#include "workloads/parallel/expert_parallel.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "collector/errors.h"

namespace moeprof::workloads {

namespace {

using Clock = std::chrono::steady_clock;

// Collectives may legitimately wait for a slow rank (another rank's first batch, its trace
// being written); a dead rank is the launcher's to notice, so this only bounds a hang.
constexpr std::chrono::minutes kCollectiveTimeout{5};

int64_t elapsedNs(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

bool isLoopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// Gloo's own connections: on the loopback device for a local run; elsewhere on the interface
// GLOO_SOCKET_IFNAME names (as PyTorch does) or the one the hostname resolves to.
std::shared_ptr<::gloo::transport::Device> glooDevice(const Rendezvous& r) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  if (isLoopback(r.masterAddr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

std::string firstLine(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

// The store the ranks meet in: a FileStore (no socket) or the TCPStore rank 0 hosts.
c10::intrusive_ptr<c10d::Store> openStore(const Rendezvous& r) {
  if (!r.storeFile.empty()) {
    auto store = c10::make_intrusive<c10d::FileStore>(r.storeFile, r.worldSize);
    store->setTimeout(r.timeout);
    return store;
  }
  c10d::TCPStoreOptions options;
  options.port = r.masterPort;
  options.isServer = r.rank == 0;
  options.numWorkers = r.worldSize;
  options.timeout = r.timeout;
  return c10::make_intrusive<c10d::TCPStore>(r.masterAddr, options);
}

std::string rendezvousName(const Rendezvous& r) {
  return r.storeFile.empty()
             ? r.masterAddr + ":" + std::to_string(r.masterPort) + " (MASTER_ADDR:MASTER_PORT)"
             : "file " + r.storeFile + " (" + kRendezvousFileVariable + ")";
}

int64_t sum(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t{0});
}

}  // namespace

struct ExpertParallelGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

struct ExpertParallelGroup::Pending::Work {
  c10::intrusive_ptr<c10d::Work> work;
  at::Tensor recv, send;  // kept alive until the transfer is done
  std::vector<int64_t> recvRows, sendRows;
};

ExpertParallelGroup::Pending::Pending(std::unique_ptr<Work> work, AllToAllStats* stats)
    : work_(std::move(work)), stats_(stats) {}
ExpertParallelGroup::Pending::Pending(Pending&&) noexcept = default;
ExpertParallelGroup::Pending& ExpertParallelGroup::Pending::operator=(Pending&&) noexcept = default;

ExpertParallelGroup::Pending::~Pending() {
  try {
    wait();
  } catch (...) {  // a failed transfer has already been reported by whoever waited first
  }
}

void ExpertParallelGroup::Pending::wait() {
  if (!work_) return;
  auto start = Clock::now();
  auto work = std::move(work_);
  work->work->wait();
  stats_->blockedNs += elapsedNs(start);
}

std::unique_ptr<ExpertParallelGroup> ExpertParallelGroup::join(const Rendezvous& r) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->store = openStore(r);
    // The store's wait bounds the rendezvous: once it returns every rank is there, and the
    // group's own timeout bounds each collective instead.
    auto options = c10d::ProcessGroupGloo::Options::create(kCollectiveTimeout);
    options->devices.push_back(glooDevice(r));
    impl->group =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, r.rank, r.worldSize, options);
    impl->store->setTimeout(kCollectiveTimeout);
  } catch (const std::exception& e) {  // c10::Error, or c10d's socket and timeout errors
    const char* hint = r.storeFile.empty() ? "rank 0 must be able to listen there"
                                           : "each must be able to create and write that file";
    throw InputError("rendezvous at " + rendezvousName(r) + " as rank " + std::to_string(r.rank) +
                     " of " + std::to_string(r.worldSize) + " failed within " +
                     std::to_string(r.timeout.count() / 1000.0).substr(0, 5) +
                     " s (--rendezvous-timeout): " + firstLine(e.what()) +
                     "; every rank must be started and " + hint);
  }
  return std::unique_ptr<ExpertParallelGroup>(
      new ExpertParallelGroup(std::move(impl), r.rank, r.worldSize));
}

ExpertParallelGroup::ExpertParallelGroup(std::unique_ptr<Impl> impl, int rank, int worldSize)
    : impl_(std::move(impl)), rank_(rank), worldSize_(worldSize) {}

ExpertParallelGroup::~ExpertParallelGroup() = default;

ExpertParallelGroup::Pending ExpertParallelGroup::startAllToAll(
    at::Tensor& recv, const at::Tensor& send, const std::vector<int64_t>& recvRows,
    const std::vector<int64_t>& sendRows) {
  TORCH_CHECK(static_cast<int>(recvRows.size()) == worldSize_ &&
                  static_cast<int>(sendRows.size()) == worldSize_,
              "all-to-all needs one row count per rank");
  TORCH_CHECK(sum(sendRows) == send.size(0) && sum(recvRows) == recv.size(0),
              "all-to-all row counts do not add up to the tensors' rows");
  auto start = Clock::now();
  auto work = std::make_unique<Pending::Work>();
  work->recv = recv;
  work->send = send.contiguous();
  work->recvRows = recvRows;
  work->sendRows = sendRows;
  const int64_t rowBytes = send.size(0) > 0 ? send.nbytes() / send.size(0)
                                            : (recv.size(0) > 0 ? recv.nbytes() / recv.size(0) : 0);
  stats_.calls += 1;
  stats_.bytesSent += (sum(sendRows) - sendRows[rank_]) * rowBytes;
  stats_.bytesReceived += (sum(recvRows) - recvRows[rank_]) * rowBytes;
  work->work = impl_->group->alltoall_base(work->recv, work->send, work->recvRows, work->sendRows);
  stats_.blockedNs += elapsedNs(start);
  return Pending(std::move(work), &stats_);
}

at::Tensor ExpertParallelGroup::allToAll(const at::Tensor& send,
                                         const std::vector<int64_t>& recvRows,
                                         const std::vector<int64_t>& sendRows) {
  std::vector<int64_t> shape = send.sizes().vec();
  shape[0] = sum(recvRows);
  at::Tensor recv = at::empty(shape, send.options());
  startAllToAll(recv, send, recvRows, sendRows).wait();
  return recv;
}

std::vector<std::string> ExpertParallelGroup::gatherToRoot(const std::string& text) {
  const std::string prefix = "moeprof/gather/" + std::to_string(gathers_++) + "/";
  if (rank_ != 0) {
    impl_->store->set(prefix + std::to_string(rank_),
                      std::vector<uint8_t>(text.begin(), text.end()));
    return {};
  }
  std::vector<std::string> texts{text};
  for (int r = 1; r < worldSize_; ++r) {
    auto bytes = impl_->store->get(prefix + std::to_string(r));
    texts.emplace_back(bytes.begin(), bytes.end());
  }
  return texts;
}

void ExpertParallelGroup::barrier() {
  impl_->group->barrier()->wait();
}

int64_t ExpertParallelGroup::maxOverRanks(int64_t value) {
  std::vector<at::Tensor> tensors{at::full({1}, value, at::kLong)};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp::MAX;
  impl_->group->allreduce(tensors, options)->wait();
  return tensors[0].item<int64_t>();
}

}  // namespace moeprof::workloads
