#pragma once
// The MoE feed-forward sublayer: router (linear, no bias), top-k gating, and the experts,
// dispatched either statically (capacity, the paper's baseline) or dynamically (the paper's
// first optimization). Phases are timed and marked with NVTX; each routing decision is handed
// to an observer (the routing log).
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "collector/phase_timer.h"
#include "kernels/expert_ffn.h"
#include "kernels/gating.h"
#include "kernels/static_dispatch.h"
#include "workloads/model/gating_mode.h"
#include "workloads/model/model_config.h"

namespace moeprof::workloads {

// Counts one or more forward passes accumulate; the waste factor is computed / needed.
struct MoeCounters {
  int64_t expertRowsComputed = 0;  // token slots the experts computed, padding included
  int64_t expertRowsNeeded = 0;    // tokens x k
  int64_t droppedAssignments = 0;  // token-expert assignments over capacity
  int64_t droppedTokens = 0;       // tokens that lost every expert
  // Expert parallelism (zero on one rank): rows this rank's experts received from all ranks
  // (dynamic: tokens; static: capacity slots, padding included), and the all-to-alls' traffic.
  int64_t expertRowsReceived = 0;
  int64_t allToAllCalls = 0;
  int64_t allToAllBytesSent = 0;
  int64_t allToAllBytesReceived = 0;
  int64_t allToAllNs = 0;  // time blocked in all-to-alls
};

class ExpertExchange;

// What one MoE layer call saw, kept for training: the layer's input and its routing decision
// (the load-balancing loss and pre-gate targets are computed from them, with autograd intact).
struct MoeLayerTrace {
  int64_t moeLayerId = 0;
  at::Tensor input;  // (S, d_model)
  kernels::TopKGating gating;
};

// Receives the routing decision of every MoE layer call.
class RoutingObserver {
 public:
  virtual ~RoutingObserver() = default;
  // kept: (S, k) bool of assignments within capacity; undefined for dynamic gating (no drops).
  virtual void onRouting(int64_t moeLayer, const kernels::TopKGating& gating,
                         const at::Tensor& kept) = 0;
};

// Where a dynamic-gating MoE layer gets its experts' weights when they are not all resident
// (Expert Buffering): a tiered store that brings experts into a bounded set of fast slots.
class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  // Before a layer's experts run: the experts it needs (ascending ids, the order they run in)
  // and the layer's input, which a pre-gating predictor applies the next layer's router to.
  virtual void beginLayer(int64_t moeLayer, const std::vector<int64_t>& experts,
                          const at::Tensor& input) = 0;
  // One of those experts, resident; waits for its transfer when it is still under way.
  virtual kernels::ExpertView expert(int64_t expert) = 0;
  // After the layer's experts ran: their slots may be reused.
  virtual void endLayer() = 0;
};

// Everything a forward pass needs besides weights and inputs.
struct ForwardContext {
  GatingMode gating = GatingMode::Dynamic;
  kernels::CapacityMode capacityMode = kernels::CapacityMode::Eval;
  double capacityFactor = 1.0;
  kernels::SlotOrder slotOrder = kernels::SlotOrder::Token;  // static gating's drop order
  // fairseq's second_expert_policy; with Sampling, each MoE layer call draws its Gumbel noise from
  // noiseSeed mixed with the layer's id, so one forward pass's layers draw independently and a
  // run repeats exactly (the runner sets noiseSeed per rank, batch and step).
  kernels::SecondExpert secondExpert = kernels::SecondExpert::All;
  uint64_t noiseSeed = 0;
  collector::PhaseTimer* phases = nullptr;  // null: no timing (NVTX ranges still mark phases)
  RoutingObserver* routing = nullptr;
  ExpertSource* experts = nullptr;  // null: every expert is resident in MoeLayerWeights
  // Set on an expert-parallel rank: the layers' weights hold only this rank's experts and
  // tokens travel to their experts' ranks (workloads/parallel/expert_parallel_moe.h).
  ExpertExchange* parallel = nullptr;
  std::vector<MoeLayerTrace>* layerTraces = nullptr;  // training: every MoE call appended
  MoeCounters counters;
};

struct MoeLayerWeights {
  int64_t moeLayerId = 0;  // index among the model's MoE layers (routing log layer id)
  int64_t topK = 2;
  at::Tensor router;  // (d_model, E)
  kernels::ExpertWeights experts;
  double outputScale = 1.0;  // ModelConfig::expertOutputScale
  // SwiGLU experts (ModelConfig::swiGlu): w1 is (E, d_model, 2 ffn), the gate projection's
  // columns then the up projection's, b1 and b2 zero; they run on the ATen path.
  bool swiGlu = false;
  ModelConfig::GateNorm gateNorm = ModelConfig::GateNorm::Fairseq;
  // A shared expert every token goes through, scaled by sigmoid(x sharedGate) (Qwen2-MoE).
  kernels::ExpertWeights shared;  // E = 1, SwiGLU; undefined: none
  at::Tensor sharedGate;          // (d_model, 1)
  // Trained pre-gate (Pre-gated MoE): applied to this layer's input, it predicts the top-k
  // experts of the next MoE layer of the same stack, (d_model, E_next). Undefined when the
  // checkpoint has none or this is the stack's last MoE layer.
  at::Tensor pregate;
};

// How an expert-parallel rank runs the rest of an MoE layer once the router has chosen: its
// tokens travel to the ranks that hold their experts and their outputs come back. Implemented
// by workloads/parallel/, so that the model does not depend on the process group.
class ExpertExchange {
 public:
  virtual ~ExpertExchange() = default;
  virtual at::Tensor dynamicMoe(const MoeLayerWeights& layer, const at::Tensor& x,
                                const kernels::TopKGating& gating, ForwardContext& context) = 0;
  virtual at::Tensor staticMoe(const MoeLayerWeights& layer, const at::Tensor& x,
                               const kernels::StaticRouting& routing, ForwardContext& context) = 0;
};

// A seed mixed with a value (splitmix64's finalizer), so that the gating noise seeds of
// neighbouring layers, batches or steps are unrelated.
uint64_t mixNoiseSeed(uint64_t seed, int64_t value);

// x: (S, d_model) -> (S, d_model), the gate-weighted sum of each token's expert outputs.
at::Tensor moeForward(const MoeLayerWeights& layer, const at::Tensor& x, ForwardContext& context);

// The experts phase from a buffered ExpertSource: only the experts with tokens are brought in,
// in id order. `dispatched` holds the rows grouped by expert, tokensPerExpert[e] of them each.
at::Tensor bufferedExperts(ExpertSource& source, const MoeLayerWeights& layer,
                           const at::Tensor& layerInput, const at::Tensor& dispatched,
                           const std::vector<int64_t>& tokensPerExpert);

// A dense SwiGLU FFN sublayer (E = 1, w1 holding gate and up), timed as the experts phase.
at::Tensor swiGluFfnForward(const kernels::ExpertWeights& ffn, const at::Tensor& x,
                            ForwardContext& context);

// A dense FFN sublayer (timed as the experts phase, so MoE and dense breakdowns line up).
at::Tensor denseFfnForward(const kernels::ExpertWeights& ffn, const at::Tensor& x,
                           ForwardContext& context);

}  // namespace moeprof::workloads
