#include "kernels/static_dispatch.h"

#include <limits>
#include <vector>

#include <ATen/ATen.h>

namespace moeprof::kernels {

namespace {

// The slot each token's j-th choice takes in its expert's buffer, fairseq's way: a one-hot
// cumsum over tokens in slot order, first choices of all tokens before any second choice.
struct ChoiceSlots {
  at::Tensor expert;  // (S,) int64
  at::Tensor slot;    // (S,) int64, >= capacity when dropped
  at::Tensor kept;    // (S,) bool
};

// Token indices in the order they take slots; undefined for token order.
at::Tensor slotOrder(const TopKGating& gating, SlotOrder order) {
  if (order == SlotOrder::Token) return at::Tensor();
  auto top = std::get<0>(gating.probs.max(/*dim=*/1));
  return std::get<1>(at::sort(top, /*stable=*/true, /*dim=*/0, /*descending=*/true));
}

std::vector<ChoiceSlots> assignSlots(const at::Tensor& expertIds, int64_t experts, int64_t capacity,
                                     const at::Tensor& order) {
  std::vector<ChoiceSlots> choices;
  at::Tensor alreadyTaken = at::zeros({1, experts}, expertIds.options());
  for (int64_t j = 0; j < expertIds.size(1); ++j) {
    auto expert = expertIds.select(1, j).contiguous();
    auto queued = order.defined() ? expert.index_select(0, order) : expert;  // in slot order
    auto wanted = at::one_hot(queued, experts);                              // (S, E)
    auto location = at::cumsum(wanted, 0).sub_(1).add_(alreadyTaken);  // first come, first served
    alreadyTaken = alreadyTaken + wanted.sum(0, /*keepdim=*/true);
    auto slot = location.gather(1, queued.unsqueeze(1)).squeeze(1);
    if (order.defined()) slot = at::empty_like(slot).index_put_({order}, slot);  // token order
    choices.push_back({expert, slot, slot.lt(capacity)});
  }
  return choices;
}

}  // namespace

StaticRouting buildStaticRouting(const TopKGating& gating, int64_t capacity, SlotOrder order) {
  const int64_t tokens = gating.expertIds.size(0);
  const int64_t experts = gating.probs.size(1);
  const int64_t topK = gating.expertIds.size(1);
  auto choices = assignSlots(gating.expertIds, experts, capacity, slotOrder(gating, order));

  std::vector<at::Tensor> gates, keptColumns;
  for (const auto& c : choices) {
    gates.push_back(gating.probs.gather(1, c.expert.unsqueeze(1)).squeeze(1) * c.kept);
    keptColumns.push_back(c.kept);
  }
  if (topK > 1) {
    auto denom = at::stack(gates, 1).sum(1).clamp_min(std::numeric_limits<float>::epsilon());
    for (auto& gate : gates) gate = gate / denom;
  }

  StaticRouting routing;
  routing.capacity = capacity;
  auto options = gating.probs.options();
  routing.combineWeights = at::zeros({tokens, experts, capacity}, options);
  routing.dispatchMask = at::zeros({tokens, experts, capacity}, options);
  auto tokenIds = at::arange(tokens, gating.expertIds.options());
  for (int64_t j = 0; j < topK; ++j) {
    const auto& c = choices[j];
    auto token = tokenIds.masked_select(c.kept);
    auto expert = c.expert.masked_select(c.kept);
    auto slot = c.slot.masked_select(c.kept);
    routing.combineWeights.index_put_({token, expert, slot}, gates[j].masked_select(c.kept));
    routing.dispatchMask.index_put_({token, expert, slot}, 1.0);
  }
  routing.kept = at::stack(keptColumns, 1);
  auto keptPerToken = routing.kept.sum(1);
  routing.droppedAssignments = tokens * topK - keptPerToken.sum().item<int64_t>();
  routing.droppedTokens = keptPerToken.eq(0).sum().item<int64_t>();
  return routing;
}

// einsum("sec,sm->ecm") and einsum("sec,ecm->sm") as the single matrix products they reduce
// to (ATen's einsum takes a slower batched path for the combine on CPU).
at::Tensor staticDispatch(const StaticRouting& routing, const at::Tensor& x) {
  const auto& mask = routing.dispatchMask;
  auto flat = mask.view({mask.size(0), -1}).t().mm(x.to(mask.scalar_type()));
  return flat.view({mask.size(1), mask.size(2), x.size(1)});
}

at::Tensor staticCombine(const StaticRouting& routing, const at::Tensor& expertOut) {
  const auto& weights = routing.combineWeights;
  auto flatOut = expertOut.reshape({-1, expertOut.size(2)}).to(weights.scalar_type());
  return weights.view({weights.size(0), -1}).mm(flatOut);
}

}  // namespace moeprof::kernels
