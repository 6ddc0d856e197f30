#include "workloads/moe_layer.h"

#include <ATen/ATen.h>

#include "kernels/dynamic_dispatch.h"
#include "workloads/expert_parallel_moe.h"

namespace moeprof::workloads {

using collector::Phase;
using collector::PhaseScope;

namespace {

at::Tensor staticMoe(const MoeLayerWeights& layer, const at::Tensor& x,
                     const kernels::TopKGating& gating, ForwardContext& context) {
  const int64_t tokens = x.size(0);
  const int64_t experts = layer.experts.numExperts();
  kernels::StaticRouting routing;
  {
    // fairseq builds the (S, E, C) masks inside its gate: the paper's allocation spike.
    PhaseScope scope(context.phases, Phase::Gate);
    int64_t capacity = kernels::expertCapacity(context.capacityMode, context.capacityFactor, tokens,
                                               experts, layer.topK);
    routing = kernels::buildStaticRouting(gating, capacity);
  }
  if (context.routing) context.routing->onRouting(layer.moeLayerId, gating, routing.kept);
  context.counters.expertRowsComputed += experts * routing.capacity;
  context.counters.droppedAssignments += routing.droppedAssignments;
  context.counters.droppedTokens += routing.droppedTokens;
  if (context.parallel) return parallelStaticMoe(layer, x, routing, context);

  at::Tensor dispatched, expertOut;
  {
    PhaseScope scope(context.phases, Phase::Dispatch);
    dispatched = kernels::staticDispatch(routing, x);
  }
  {
    PhaseScope scope(context.phases, Phase::Experts);
    expertOut = kernels::batchedExpertFfn(layer.experts, dispatched);
  }
  dispatched.reset();
  PhaseScope scope(context.phases, Phase::Combine);
  return kernels::staticCombine(routing, expertOut);
}

// Experts from the buffered store: only those with tokens are brought in, in id order.
at::Tensor bufferedExperts(ExpertSource& source, int64_t moeLayer, const at::Tensor& layerInput,
                           const at::Tensor& dispatched,
                           const std::vector<int64_t>& tokensPerExpert) {
  std::vector<int64_t> needed;
  for (size_t e = 0; e < tokensPerExpert.size(); ++e) {
    if (tokensPerExpert[e] > 0) needed.push_back(static_cast<int64_t>(e));
  }
  source.beginLayer(moeLayer, needed, layerInput);
  auto out = kernels::groupedExpertFfn([&](int64_t e) { return source.expert(e); }, dispatched,
                                       tokensPerExpert);
  source.endLayer();
  return out;
}

at::Tensor dynamicMoe(const MoeLayerWeights& layer, const at::Tensor& x,
                      const kernels::TopKGating& gating, ForwardContext& context) {
  if (context.routing) context.routing->onRouting(layer.moeLayerId, gating, at::Tensor());
  context.counters.expertRowsComputed += x.size(0) * layer.topK;
  if (context.parallel) return parallelDynamicMoe(layer, x, gating, context);

  kernels::DynamicRouting routing;
  at::Tensor dispatched, expertOut;
  {
    PhaseScope scope(context.phases, Phase::Dispatch);
    routing = kernels::buildDynamicRouting(gating);
    dispatched = kernels::dynamicDispatch(routing, x);
  }
  {
    PhaseScope scope(context.phases, Phase::Experts);
    expertOut = context.experts
                    ? bufferedExperts(*context.experts, layer.moeLayerId, x, dispatched,
                                      routing.tokensPerExpert)
                    : kernels::groupedExpertFfn(layer.experts, dispatched, routing.tokensPerExpert);
  }
  dispatched.reset();
  PhaseScope scope(context.phases, Phase::Combine);
  return kernels::dynamicCombine(routing, expertOut, x.size(0));
}

}  // namespace

at::Tensor moeForward(const MoeLayerWeights& layer, const at::Tensor& x, ForwardContext& context) {
  kernels::TopKGating gating;
  {
    PhaseScope scope(context.phases, Phase::Gate);
    gating = kernels::topKGating(at::matmul(x, layer.router), layer.topK);
  }
  context.counters.expertRowsNeeded += x.size(0) * layer.topK;
  if (context.layerTraces) context.layerTraces->push_back({layer.moeLayerId, x, gating});
  return context.gating == GatingMode::Static ? staticMoe(layer, x, gating, context)
                                              : dynamicMoe(layer, x, gating, context);
}

at::Tensor denseFfnForward(const kernels::ExpertWeights& ffn, const at::Tensor& x,
                           ForwardContext& context) {
  PhaseScope scope(context.phases, Phase::Experts);
  return kernels::expertFfn(ffn, 0, x);
}

}  // namespace moeprof::workloads
