#include "workloads/model/moe_layer.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "collector/errors.h"
#include "kernels/dynamic_dispatch.h"

namespace moeprof::workloads {

using collector::Phase;
using collector::PhaseScope;

namespace {

// Test-only: MOEPROF_TEST_SLOWDOWN=PHASE:FRACTION (dispatch, experts or combine; e.g.
// "experts:0.2") stretches that phase of dynamic gating by FRACTION of its own time, a known
// regression for the tests of `moeprof compare` and the CI gate and for measuring how often a
// comparison detects one (docs/comparisons.md). The environment is read here and nowhere else.
class TestSlowdown {
 public:
  explicit TestSlowdown(Phase phase) : fraction_(fractionFor(phase)) {
    if (fraction_ > 0) start_ = std::chrono::steady_clock::now();
  }
  ~TestSlowdown() {
    if (fraction_ <= 0) return;
    auto now = std::chrono::steady_clock::now();
    const auto until = now + (now - start_) * fraction_;
    while (std::chrono::steady_clock::now() < until) {
      // Busy: sleeping cannot stretch phases of a few microseconds accurately.
    }
  }
  TestSlowdown(const TestSlowdown&) = delete;
  TestSlowdown& operator=(const TestSlowdown&) = delete;

 private:
  static double fractionFor(Phase phase) {
    const char* value = std::getenv("MOEPROF_TEST_SLOWDOWN");
    if (value == nullptr || *value == '\0') return 0;
    const std::string text(value);
    const auto colon = text.find(':');
    char* end = nullptr;
    const double fraction =
        colon == std::string::npos ? -1 : std::strtod(text.c_str() + colon + 1, &end);
    const std::string name = text.substr(0, colon);
    if (fraction <= 0 || *end != '\0' ||
        (name != "dispatch" && name != "experts" && name != "combine")) {
      throw InputError("MOEPROF_TEST_SLOWDOWN '" + text +
                       "' is not PHASE:FRACTION with PHASE one of dispatch, experts, combine "
                       "and FRACTION above 0 (e.g. experts:0.2)");
    }
    return name == collector::phaseName(phase) ? fraction : 0;
  }

  double fraction_;
  std::chrono::steady_clock::time_point start_;
};

// silu(x gate) * (x up), then down; w1 holds gate and up side by side
// (workloads/model/moe_layer.h).
at::Tensor swiGlu(const kernels::ExpertView& expert, const at::Tensor& x) {
  const int64_t ffn = expert.w2.size(0);
  auto h = at::matmul(x, expert.w1);
  return at::matmul(at::silu(h.narrow(-1, 0, ffn)) * h.narrow(-1, ffn, ffn), expert.w2);
}

// SwiGLU experts on rows sorted by expert (kernels::groupedExpertFfn's contract), with ATen.
at::Tensor groupedSwiGlu(const kernels::ExpertProvider& experts, const at::Tensor& x,
                         const std::vector<int64_t>& counts) {
  std::vector<at::Tensor> pieces;
  int64_t offset = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] == 0) continue;
    pieces.push_back(swiGlu(experts(static_cast<int64_t>(e)), x.narrow(0, offset, counts[e])));
    offset += counts[e];
  }
  return pieces.empty() ? at::zeros_like(x) : at::cat(pieces, 0);
}

// All experts on a capacity-padded (E, C, d_model) batch.
at::Tensor batchedSwiGlu(const kernels::ExpertWeights& experts, const at::Tensor& x) {
  const int64_t ffn = experts.w2.size(1);
  auto h = at::bmm(x, experts.w1);
  return at::bmm(at::silu(h.narrow(-1, 0, ffn)) * h.narrow(-1, ffn, ffn), experts.w2);
}

at::Tensor groupedExperts(const MoeLayerWeights& layer, const kernels::ExpertProvider& experts,
                          const at::Tensor& x, const std::vector<int64_t>& counts) {
  return layer.swiGlu ? groupedSwiGlu(experts, x, counts)
                      : kernels::groupedExpertFfn(experts, x, counts);
}

kernels::TopKGating gate(const MoeLayerWeights& layer, const at::Tensor& x,
                         const ForwardContext& context) {
  kernels::GatingChoice choice{context.secondExpert,
                               mixNoiseSeed(context.noiseSeed, layer.moeLayerId)};
  auto gating = kernels::topKGating(at::matmul(x, layer.router), layer.topK, choice);
  using GateNorm = ModelConfig::GateNorm;
  if (layer.gateNorm == GateNorm::Raw && layer.topK > 1) {
    gating.gateWeights = gating.probs.gather(1, gating.expertIds);
  } else if (layer.gateNorm == GateNorm::Renormalize && layer.topK == 1) {
    gating.gateWeights = gating.gateWeights / gating.gateWeights.sum(1, /*keepdim=*/true);
  }
  return gating;
}

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
    routing = kernels::buildStaticRouting(gating, capacity, context.slotOrder);
  }
  if (context.routing) context.routing->onRouting(layer.moeLayerId, gating, routing.kept);
  context.counters.expertRowsComputed += experts * routing.capacity;
  context.counters.droppedAssignments += routing.droppedAssignments;
  context.counters.droppedTokens += routing.droppedTokens;
  if (context.parallel) return context.parallel->staticMoe(layer, x, routing, context);

  at::Tensor dispatched, expertOut;
  {
    PhaseScope scope(context.phases, Phase::Dispatch);
    dispatched = kernels::staticDispatch(routing, x);
  }
  {
    PhaseScope scope(context.phases, Phase::Experts);
    expertOut = layer.swiGlu ? batchedSwiGlu(layer.experts, dispatched)
                             : kernels::batchedExpertFfn(layer.experts, dispatched);
  }
  dispatched.reset();
  PhaseScope scope(context.phases, Phase::Combine);
  return kernels::staticCombine(routing, expertOut);
}

at::Tensor dynamicMoe(const MoeLayerWeights& layer, const at::Tensor& x,
                      const kernels::TopKGating& gating, ForwardContext& context) {
  if (context.routing) context.routing->onRouting(layer.moeLayerId, gating, at::Tensor());
  context.counters.expertRowsComputed += x.size(0) * layer.topK;
  if (context.parallel) return context.parallel->dynamicMoe(layer, x, gating, context);

  kernels::DynamicRouting routing;
  at::Tensor dispatched, expertOut;
  {
    PhaseScope scope(context.phases, Phase::Dispatch);
    TestSlowdown slowdown(Phase::Dispatch);
    routing = kernels::buildDynamicRouting(gating);
    dispatched = kernels::dynamicDispatch(routing, x);
  }
  {
    PhaseScope scope(context.phases, Phase::Experts);
    TestSlowdown slowdown(Phase::Experts);
    if (context.experts) {
      expertOut = bufferedExperts(*context.experts, layer, x, dispatched, routing.tokensPerExpert);
    } else if (layer.swiGlu) {
      expertOut = groupedSwiGlu([&](int64_t e) { return layer.experts.expert(e); }, dispatched,
                                routing.tokensPerExpert);
    } else {
      expertOut = kernels::groupedExpertFfn(layer.experts, dispatched, routing.tokensPerExpert);
    }
  }
  dispatched.reset();
  PhaseScope scope(context.phases, Phase::Combine);
  TestSlowdown slowdown(Phase::Combine);
  return kernels::dynamicCombine(routing, expertOut, x.size(0));
}

}  // namespace

uint64_t mixNoiseSeed(uint64_t seed, int64_t value) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (static_cast<uint64_t>(value) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

at::Tensor bufferedExperts(ExpertSource& source, const MoeLayerWeights& layer,
                           const at::Tensor& layerInput, const at::Tensor& dispatched,
                           const std::vector<int64_t>& tokensPerExpert) {
  std::vector<int64_t> needed;
  for (size_t e = 0; e < tokensPerExpert.size(); ++e) {
    if (tokensPerExpert[e] > 0) needed.push_back(static_cast<int64_t>(e));
  }
  source.beginLayer(layer.moeLayerId, needed, layerInput);
  auto out = groupedExperts(
      layer, [&](int64_t e) { return source.expert(e); }, dispatched, tokensPerExpert);
  source.endLayer();
  return out;
}

at::Tensor moeForward(const MoeLayerWeights& layer, const at::Tensor& x, ForwardContext& context) {
  TORCH_CHECK(!context.parallel || (!layer.swiGlu && !layer.shared.w1.defined()),
              "expert parallelism runs ReLU experts without shared experts only");
  kernels::TopKGating gating;
  {
    PhaseScope scope(context.phases, Phase::Gate);
    gating = gate(layer, x, context);
  }
  context.counters.expertRowsNeeded += x.size(0) * layer.topK;
  if (context.layerTraces) context.layerTraces->push_back({layer.moeLayerId, x, gating});
  auto out = context.gating == GatingMode::Static ? staticMoe(layer, x, gating, context)
                                                  : dynamicMoe(layer, x, gating, context);
  if (layer.outputScale != 1.0) out = out * layer.outputScale;  // not in place: autograd
  if (layer.shared.w1.defined()) {
    PhaseScope scope(context.phases, Phase::Experts);
    out = out + at::sigmoid(at::matmul(x, layer.sharedGate)) * swiGlu(layer.shared.expert(0), x);
  }
  return out;
}

at::Tensor swiGluFfnForward(const kernels::ExpertWeights& ffn, const at::Tensor& x,
                            ForwardContext& context) {
  PhaseScope scope(context.phases, Phase::Experts);
  return swiGlu(ffn.expert(0), x);
}

at::Tensor denseFfnForward(const kernels::ExpertWeights& ffn, const at::Tensor& x,
                           ForwardContext& context) {
  PhaseScope scope(context.phases, Phase::Experts);
  return kernels::expertFfn(ffn, 0, x);
}

}  // namespace moeprof::workloads
