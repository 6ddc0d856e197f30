#include "workloads/model/model_config.h"

namespace moeprof::workloads {

const char* workloadName(WorkloadKind kind) {
  return kind == WorkloadKind::Lm ? "lm" : "mt";
}

namespace {

int64_t layerNormParameters(int64_t d) {
  return 2 * d;
}
// SwiGLU: w1 holds gate and up (2 f columns); its zero biases are kept, so every expert has the
// same four tensors (what the expert store moves).
int64_t ffnParameters(int64_t d, int64_t f, bool swiGlu = false) {
  return swiGlu ? 3 * d * f + 2 * f + d : 2 * d * f + f + d;
}

}  // namespace

int64_t ModelConfig::expertParameterCount() const {
  return moeLayerCount() * numExperts * ffnParameters(dModel, ffnDim, swiGlu);
}

// Mirrors what the model builders allocate (workloads/model/transformer.cpp); a test checks that.
int64_t ModelConfig::parameterCount() const {
  const int64_t d = dModel, kv = d / heads * kvHeadCount();
  const int64_t norm = rmsNorm ? d : layerNormParameters(d);
  int64_t selfAttention = 2 * d * d + 2 * d * kv + (qkvBias ? d + 2 * kv : 0) + (outBias ? d : 0);
  if (qkNorm) selfAttention += rmsNorm ? d + kv : 2 * (d + kv);
  int64_t block = selfAttention + 2 * norm;
  int64_t total = vocab * d;  // embedding, tied with the output projection unless untied
  if (!tiedOutput) total += vocab * d;
  if (workload == WorkloadKind::Lm && ropeTheta <= 0) total += maxPositions * d;  // learned
  int64_t moeFfn = d * numExperts + numExperts * ffnParameters(d, ffnDim, swiGlu);
  if (sharedExpertFfnDim > 0) moeFfn += ffnParameters(d, sharedExpertFfnDim, true) + d;
  for (int64_t stack = 0; stack < stacks(); ++stack) {
    bool decoderOfMt = workload == WorkloadKind::Mt && stack == 1;
    // Cross-attention has the self-attention's biases, or all four when both are on.
    const int64_t cross = 4 * d * d + (qkvBias ? 3 * d : 0) + (outBias ? d : 0);
    int64_t perBlock = block + (decoderOfMt ? cross + norm : 0);
    total += layers * perBlock + norm;
    total += relativeAttentionBuckets * heads;  // the stack's relative position bias
    int64_t moeBlocks = moeBlocksPerStack();
    total += (layers - moeBlocks) * ffnParameters(d, ffnDim, swiGlu);
    total += moeBlocks * moeFfn;
  }
  return total;
}

}  // namespace moeprof::workloads
