#include "kernels/dynamic_dispatch.h"

#include <ATen/ATen.h>

namespace moeprof::kernels {

DynamicRouting buildDynamicRouting(const TopKGating& gating) {
  const int64_t topK = gating.expertIds.size(1);
  const int64_t experts = gating.probs.size(1);
  auto flatIds = gating.expertIds.reshape({-1});
  auto order = at::argsort(flatIds, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  auto counts = at::bincount(flatIds, /*weights=*/{}, experts).to(at::kCPU);

  DynamicRouting routing;
  routing.tokenOfRow = at::div(order, topK, "floor");
  routing.weightOfRow = gating.gateWeights.reshape({-1}).index_select(0, order);
  auto* data = counts.data_ptr<int64_t>();
  routing.tokensPerExpert.assign(data, data + experts);
  return routing;
}

at::Tensor dynamicDispatch(const DynamicRouting& routing, const at::Tensor& x) {
  return x.index_select(0, routing.tokenOfRow);
}

at::Tensor dynamicCombine(const DynamicRouting& routing, const at::Tensor& expertOut,
                          int64_t tokens) {
  auto weighted = expertOut * routing.weightOfRow.to(expertOut.scalar_type()).unsqueeze(1);
  return at::zeros({tokens, expertOut.size(1)}, expertOut.options())
      .index_add_(0, routing.tokenOfRow, weighted);
}

}  // namespace moeprof::kernels
