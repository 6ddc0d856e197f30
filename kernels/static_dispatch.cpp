#include "kernels/static_dispatch.h"

#include <limits>
#include <vector>

#include <ATen/ATen.h>

namespace moeprof::kernels {

namespace {

// Per choice j: which (token, expert) assignments are kept and the slot each kept one takes.
struct ChoiceSlots {
  at::Tensor kept;  // (S, E) int64, one-hot of kept assignments
  at::Tensor slot;  // (S,) int64, slot index of the kept assignment (0 when dropped)
};

std::vector<ChoiceSlots> assignSlots(const at::Tensor& expertIds, int64_t experts,
                                     int64_t capacity) {
  std::vector<ChoiceSlots> choices;
  at::Tensor alreadyTaken = at::zeros({1, experts}, expertIds.options());
  for (int64_t j = 0; j < expertIds.size(1); ++j) {
    auto wanted = at::one_hot(expertIds.select(1, j), experts);       // (S, E)
    auto location = at::cumsum(wanted, 0).sub_(1).add_(alreadyTaken);  // first come, first served
    alreadyTaken = alreadyTaken + wanted.sum(0, /*keepdim=*/true);
    auto kept = wanted * location.lt(capacity);
    choices.push_back({kept, (location * kept).sum(1)});
  }
  return choices;
}

}  // namespace

StaticRouting buildStaticRouting(const TopKGating& gating, int64_t capacity) {
  const int64_t tokens = gating.expertIds.size(0);
  const int64_t experts = gating.probs.size(1);
  const int64_t topK = gating.expertIds.size(1);
  auto choices = assignSlots(gating.expertIds, experts, capacity);

  std::vector<at::Tensor> gates;
  for (const auto& choice : choices) gates.push_back((gating.probs * choice.kept).sum(1));
  if (topK > 1) {
    auto denom = at::stack(gates, 1).sum(1).clamp_min(std::numeric_limits<float>::epsilon());
    for (auto& gate : gates) gate = gate / denom;
  }

  StaticRouting routing;
  routing.capacity = capacity;
  routing.combineWeights = at::zeros({tokens, experts, capacity}, gating.probs.options());
  std::vector<at::Tensor> keptColumns;
  for (int64_t j = 0; j < topK; ++j) {
    auto gateSe = gates[j].unsqueeze(1) * choices[j].kept;                   // (S, E)
    auto slotSc = at::one_hot(choices[j].slot, capacity).to(at::kFloat);     // (S, C)
    routing.combineWeights.add_(at::bmm(gateSe.unsqueeze(2), slotSc.unsqueeze(1)));
    keptColumns.push_back(choices[j].kept.sum(1).gt(0));
  }
  routing.dispatchMask = routing.combineWeights.ne(0);
  routing.kept = at::stack(keptColumns, 1);
  auto keptPerToken = routing.kept.sum(1);
  routing.droppedAssignments = tokens * topK - keptPerToken.sum().item<int64_t>();
  routing.droppedTokens = keptPerToken.eq(0).sum().item<int64_t>();
  return routing;
}

at::Tensor staticDispatch(const StaticRouting& routing, const at::Tensor& x) {
  return at::einsum("sec,sm->ecm", {routing.dispatchMask.to(x.scalar_type()), x});
}

at::Tensor staticCombine(const StaticRouting& routing, const at::Tensor& expertOut) {
  return at::einsum("sec,ecm->sm", {routing.combineWeights.to(expertOut.scalar_type()), expertOut});
}

}  // namespace moeprof::kernels
