// ExpertParallelGroup in a build without Gloo (MOEPROF_WITH_GLOO=OFF): no group can be joined,
// so `--ranks` and the torchrun-style variables fail with a clear InputError before anything is
// written, and the group's other members are never reached.
#include <stdexcept>

#include <ATen/ATen.h>

#include "collector/errors.h"
#include "workloads/parallel/expert_parallel.h"

namespace moeprof::workloads {

struct ExpertParallelGroup::Impl {};
struct ExpertParallelGroup::Pending::Work {};

namespace {
[[noreturn]] void unreachable() {
  throw std::logic_error("expert parallelism: this moeprof was built without Gloo");
}
}  // namespace

std::unique_ptr<ExpertParallelGroup> ExpertParallelGroup::join(const Rendezvous& r) {
  throw InputError("a run of " + std::to_string(r.worldSize) +
                   " ranks: this moeprof was built without Gloo (MOEPROF_WITH_GLOO=OFF), so "
                   "expert parallelism is not available; allowed here: one rank");
}

ExpertParallelGroup::ExpertParallelGroup(std::unique_ptr<Impl> impl, int rank, int worldSize)
    : impl_(std::move(impl)), rank_(rank), worldSize_(worldSize) {}
ExpertParallelGroup::~ExpertParallelGroup() = default;

ExpertParallelGroup::Pending::Pending(std::unique_ptr<Work> work, AllToAllStats* stats)
    : work_(std::move(work)), stats_(stats) {}
ExpertParallelGroup::Pending::Pending(Pending&&) noexcept = default;
ExpertParallelGroup::Pending& ExpertParallelGroup::Pending::operator=(Pending&&) noexcept = default;
ExpertParallelGroup::Pending::~Pending() = default;
void ExpertParallelGroup::Pending::wait() {}

ExpertParallelGroup::Pending ExpertParallelGroup::startAllToAll(at::Tensor&, const at::Tensor&,
                                                                const std::vector<int64_t>&,
                                                                const std::vector<int64_t>&) {
  unreachable();
}
at::Tensor ExpertParallelGroup::allToAll(const at::Tensor&, const std::vector<int64_t>&,
                                         const std::vector<int64_t>&) {
  unreachable();
}
std::vector<std::string> ExpertParallelGroup::gatherToRoot(const std::string&) {
  unreachable();
}
void ExpertParallelGroup::barrier() {
  unreachable();
}
int64_t ExpertParallelGroup::maxOverRanks(int64_t) {
  unreachable();
}

}  // namespace moeprof::workloads
