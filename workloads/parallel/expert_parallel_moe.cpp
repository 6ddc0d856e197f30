#include "workloads/parallel/expert_parallel_moe.h"

#include <algorithm>
#include <stdexcept>

#include <ATen/ATen.h>

#include "collector/errors.h"
#include "kernels/dynamic_dispatch.h"

namespace moeprof::workloads {

using collector::NvtxRange;
using collector::Phase;
using collector::PhaseScope;

namespace {

at::Tensor longTensor(const std::vector<int64_t>& values) {
  return at::tensor(at::ArrayRef<int64_t>(values), at::TensorOptions().dtype(at::kLong));
}

// How a rank's rows (sorted by expert) go out: grouped by destination rank, and within a rank
// by its experts in ascending order, which is how the receiver expects them.
struct SendPlan {
  std::vector<int64_t> rowOrder;       // sorted-row index of each row sent, in send order
  std::vector<int64_t> countsInOrder;  // tokens per (destination rank, expert), in send order
  std::vector<int64_t> rowsToRank;     // rows sent to each rank
};

// The first row and row count of expert e's rows that go to its `replica`-th rank: contiguous
// near-equal shares, the larger ones rotated by the sending rank so that replicas even out
// over the ranks.
std::pair<int64_t, int64_t> replicaShare(int64_t rows, int64_t replicas, int64_t replica,
                                         int sender) {
  const int64_t base = rows / replicas, larger = rows % replicas;
  auto sizeOf = [&](int64_t j) {
    return base + (((j - sender) % replicas + replicas) % replicas < larger ? 1 : 0);
  };
  int64_t first = 0;
  for (int64_t j = 0; j < replica; ++j) first += sizeOf(j);
  return {first, sizeOf(replica)};
}

SendPlan planSend(const std::vector<int64_t>& tokensPerExpert, const ExpertSharding& shard,
                  int sender) {
  std::vector<int64_t> offset(tokensPerExpert.size() + 1, 0);
  for (size_t e = 0; e < tokensPerExpert.size(); ++e)
    offset[e + 1] = offset[e] + tokensPerExpert[e];
  SendPlan plan;
  plan.rowOrder.reserve(offset.back());
  for (int rank = 0; rank < static_cast<int>(shard.expertsOfRank.size()); ++rank) {
    int64_t rows = 0;
    for (int64_t e : shard.expertsOfRank[rank]) {
      const auto& ranks = shard.ranksOfExpert[e];
      const auto replica = std::find(ranks.begin(), ranks.end(), rank) - ranks.begin();
      auto [first, count] =
          replicaShare(tokensPerExpert[e], static_cast<int64_t>(ranks.size()), replica, sender);
      plan.countsInOrder.push_back(count);
      for (int64_t row = offset[e] + first; row < offset[e] + first + count; ++row) {
        plan.rowOrder.push_back(row);
      }
      rows += count;
    }
    plan.rowsToRank.push_back(rows);
  }
  return plan;
}

// What a rank received: rows grouped by source rank, then by local expert. The experts run on
// rows grouped by expert, so `expertOrder` lists received rows expert-major.
struct ReceivePlan {
  std::vector<int64_t> rowsFromRank;
  std::vector<int64_t> tokensPerLocalExpert;
  std::vector<int64_t> expertOrder;
};

ReceivePlan planReceive(const at::Tensor& counts, int world, int64_t localExperts) {
  const int64_t* c = counts.data_ptr<int64_t>();  // (source rank, local expert)
  ReceivePlan plan;
  plan.tokensPerLocalExpert.assign(localExperts, 0);
  std::vector<int64_t> start(world * localExperts);
  int64_t row = 0;
  for (int s = 0; s < world; ++s) {
    int64_t rows = 0;
    for (int64_t i = 0; i < localExperts; ++i) {
      start[s * localExperts + i] = row + rows;
      rows += c[s * localExperts + i];
      plan.tokensPerLocalExpert[i] += c[s * localExperts + i];
    }
    plan.rowsFromRank.push_back(rows);
    row += rows;
  }
  plan.expertOrder.reserve(row);
  for (int64_t i = 0; i < localExperts; ++i) {
    for (int s = 0; s < world; ++s) {
      int64_t first = start[s * localExperts + i];
      for (int64_t r = 0; r < c[s * localExperts + i]; ++r) plan.expertOrder.push_back(first + r);
    }
  }
  return plan;
}

// Adds what the group's all-to-alls cost since `before` to the unit's counters.
void addTraffic(const AllToAllStats& before, const AllToAllStats& after, MoeCounters& counters) {
  counters.allToAllCalls += after.calls - before.calls;
  counters.allToAllBytesSent += after.bytesSent - before.bytesSent;
  counters.allToAllBytesReceived += after.bytesReceived - before.bytesReceived;
  counters.allToAllNs += after.blockedNs - before.blockedNs;
}

}  // namespace

ExpertSharding ExpertSharding::fromPlacement(const analysis::Placement& placement) {
  ExpertSharding shard;
  for (int e = 0; e < placement.numExperts(); ++e) {
    shard.ranksOfExpert.push_back(placement.devicesOf(e));
  }
  for (const auto& experts : placement.expertsOnDevices()) {
    if (experts.empty()) throw InputError("every rank must hold at least one expert");
    shard.expertsOfRank.emplace_back(experts.begin(), experts.end());
    shard.sendOrder.insert(shard.sendOrder.end(), experts.begin(), experts.end());
  }
  return shard;
}

bool ExpertSharding::replicated() const {
  return std::any_of(ranksOfExpert.begin(), ranksOfExpert.end(),
                     [](const auto& ranks) { return ranks.size() > 1; });
}

ExpertParallelism::ExpertParallelism(ExpertParallelGroup& group, std::vector<ExpertSharding> layers)
    : group_(group), layers_(std::move(layers)) {}

int64_t keepLocalExperts(const std::vector<MoeLayerWeights*>& layers,
                         const ExpertParallelism& parallel, int rank) {
  int64_t freed = 0;
  for (MoeLayerWeights* layer : layers) {
    auto ids = longTensor(parallel.layer(layer->moeLayerId).expertsOfRank.at(rank))
                   .to(layer->experts.w1.device());
    const int64_t before = layer->experts.bytes();
    auto& w = layer->experts;
    w = {w.w1.index_select(0, ids), w.b1.index_select(0, ids), w.w2.index_select(0, ids),
         w.b2.index_select(0, ids)};
    freed += before - w.bytes();
  }
  return freed;
}

at::Tensor ExpertParallelism::dynamicMoe(const MoeLayerWeights& layer, const at::Tensor& x,
                                         const kernels::TopKGating& gating,
                                         ForwardContext& context) {
  ExpertParallelGroup& group = group_;
  const ExpertSharding& shard = layers_.at(layer.moeLayerId);
  const int world = group.worldSize();
  const int64_t local = shard.expertsOn(group.rank());
  const AllToAllStats before = group.stats();
  // The sizes all-to-all: one count per (rank, expert it holds) goes out, one per (source rank,
  // local expert) comes in.
  std::vector<int64_t> countsToRank;
  for (int r = 0; r < world; ++r) countsToRank.push_back(shard.expertsOn(r));
  const std::vector<int64_t> countsFromRank(world, local);

  kernels::DynamicRouting routing;
  SendPlan send;
  ReceivePlan receive;
  at::Tensor received, order;
  {
    PhaseScope scope(context.phases, Phase::Dispatch);
    routing = kernels::buildDynamicRouting(gating);
    send = planSend(routing.tokensPerExpert, shard, group.rank());
    at::Tensor sendCounts = longTensor(send.countsInOrder);
    at::Tensor recvCounts = at::empty({world * local}, sendCounts.options());
    auto sizes = group.startAllToAll(recvCounts, sendCounts, countsFromRank, countsToRank);
    order = longTensor(send.rowOrder).to(x.device());
    routing.tokenOfRow = routing.tokenOfRow.index_select(0, order);
    routing.weightOfRow = routing.weightOfRow.index_select(0, order);
    at::Tensor tokens = kernels::dynamicDispatch(routing, x).contiguous();  // in send order
    {
      NvtxRange range("moe.all_to_all.sizes");
      sizes.wait();
    }
    receive = planReceive(recvCounts, world, local);
    NvtxRange range("moe.all_to_all.tokens");
    received = group.allToAll(tokens, receive.rowsFromRank, send.rowsToRank);
  }
  context.counters.expertRowsReceived += received.size(0);
  at::Tensor results;
  {
    PhaseScope scope(context.phases, Phase::Experts);
    auto expertOrder = longTensor(receive.expertOrder).to(x.device());
    auto grouped = received.index_select(0, expertOrder);
    // With Expert Buffering, this rank's store holds its local experts (local ids).
    auto expertOut =
        context.experts
            ? bufferedExperts(*context.experts, layer, x, grouped, receive.tokensPerLocalExpert)
            : kernels::groupedExpertFfn(layer.experts, grouped, receive.tokensPerLocalExpert);
    results = at::empty_like(expertOut).index_copy_(0, expertOrder, expertOut);
  }
  received.reset();
  PhaseScope scope(context.phases, Phase::Combine);
  at::Tensor returned;
  {
    NvtxRange range("moe.all_to_all.outputs");
    returned = group.allToAll(results, send.rowsToRank, receive.rowsFromRank);
  }
  addTraffic(before, group.stats(), context.counters);
  return kernels::dynamicCombine(routing, returned, x.size(0));
}

at::Tensor ExpertParallelism::staticMoe(const MoeLayerWeights& layer, const at::Tensor& x,
                                        const kernels::StaticRouting& routing,
                                        ForwardContext& context) {
  ExpertParallelGroup& group = group_;
  const ExpertSharding& shard = layers_.at(layer.moeLayerId);
  if (shard.replicated()) {
    throw std::logic_error("static gating cannot run a placement with replicated experts");
  }
  const int64_t world = group.worldSize();
  const int64_t local = shard.expertsOn(group.rank());
  const int64_t capacity = routing.capacity;
  const int64_t dModel = x.size(1);
  const AllToAllStats before = group.stats();
  const std::vector<int64_t> perRank(world, local);  // experts' capacity buffers per rank
  auto sendOrder = longTensor(shard.sendOrder).to(x.device());

  at::Tensor received;
  {
    PhaseScope scope(context.phases, Phase::Dispatch);
    auto buffers = kernels::staticDispatch(routing, x).index_select(0, sendOrder);
    NvtxRange range("moe.all_to_all.tokens");
    received = group.allToAll(buffers, perRank, perRank);  // (world * local, C, d) by source
  }
  context.counters.expertRowsReceived += received.size(0) * capacity;
  at::Tensor results;
  {
    PhaseScope scope(context.phases, Phase::Experts);
    auto slots = received.view({world, local, capacity, dModel})
                     .transpose(0, 1)
                     .reshape({local, world * capacity, dModel});
    auto out = kernels::batchedExpertFfn(layer.experts, slots);
    results = out.view({local, world, capacity, dModel})
                  .transpose(0, 1)
                  .contiguous()
                  .view({world * local, capacity, dModel});
  }
  received.reset();
  PhaseScope scope(context.phases, Phase::Combine);
  at::Tensor returned;
  {
    NvtxRange range("moe.all_to_all.outputs");
    returned = group.allToAll(results, perRank, perRank);
  }
  addTraffic(before, group.stats(), context.counters);
  auto expertOut = at::empty_like(returned).index_copy_(0, sendOrder, returned);
  return kernels::staticCombine(routing, expertOut);
}

}  // namespace moeprof::workloads
