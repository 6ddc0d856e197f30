#pragma once
// Expert parallelism inside an MoE layer (the paper's deployment): each rank routes its own
// tokens, sends each token to the rank holding its expert, runs its own experts on what it
// received, and sends the outputs back. Dynamic gating does the paper's two all-to-alls (the
// per-expert token counts, started early so that they overlap the token gather, then the
// variable-size tokens) and the reverse all-to-all of the outputs; static gating sends the
// fixed-size (E, C, d_model) capacity buffer and receives it back.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "analysis/placement.h"
#include "kernels/gating.h"
#include "kernels/static_dispatch.h"
#include "workloads/model/moe_layer.h"
#include "workloads/parallel/expert_parallel.h"

namespace moeprof::workloads {

// Where the experts of one MoE layer live. Without replicas every rank holds E / ranks of
// them; with EPLB-style replicas (analysis::replicatedPlacement) a hot expert lives on several
// ranks, which split its tokens between them, and ranks may hold different numbers of experts.
struct ExpertSharding {
  std::vector<std::vector<int64_t>> expertsOfRank;  // ascending expert ids, per rank
  std::vector<std::vector<int>> ranksOfExpert;      // ascending ranks, per expert
  std::vector<int64_t> sendOrder;  // expertsOfRank concatenated: how rows are laid out to send
  int64_t expertsOn(int rank) const { return static_cast<int64_t>(expertsOfRank.at(rank).size()); }
  bool replicated() const;
  static ExpertSharding fromPlacement(const analysis::Placement& placement);
};

// What the MoE layers of one rank need to run expert-parallel: the group, and per MoE layer
// (routing-log order) which experts live where. The layers' ExpertWeights then hold only this
// rank's experts, in ascending id order (keepLocalExperts).
class ExpertParallelism final : public ExpertExchange {
 public:
  ExpertParallelism(ExpertParallelGroup& group, std::vector<ExpertSharding> layers);
  // The rest of a dynamic-gating MoE layer once the router has chosen: dispatch phase (routing,
  // the size all-to-all overlapping the gather, the token all-to-all), experts phase, combine
  // phase (the output all-to-all, then the gate-weighted sum). Returns (S, d_model).
  at::Tensor dynamicMoe(const MoeLayerWeights& layer, const at::Tensor& x,
                        const kernels::TopKGating& gating, ForwardContext& context) override;
  // The same for static gating, given its capacity routing over this rank's tokens. Needs a
  // sharding without replicas (each expert's capacity buffer goes to one rank).
  at::Tensor staticMoe(const MoeLayerWeights& layer, const at::Tensor& x,
                       const kernels::StaticRouting& routing, ForwardContext& context) override;
  ExpertParallelGroup& group() { return group_; }
  const ExpertSharding& layer(int64_t moeLayer) const { return layers_.at(moeLayer); }
  int64_t numLayers() const { return static_cast<int64_t>(layers_.size()); }

 private:
  ExpertParallelGroup& group_;
  std::vector<ExpertSharding> layers_;
};

// Replaces each layer's experts by this rank's (copies; the full stacks are freed). Returns
// the bytes freed.
int64_t keepLocalExperts(const std::vector<MoeLayerWeights*>& layers,
                         const ExpertParallelism& parallel, int rank);

}  // namespace moeprof::workloads
