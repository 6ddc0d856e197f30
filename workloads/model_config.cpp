#include "workloads/model_config.h"

namespace moeprof::workloads {

const char* workloadName(WorkloadKind kind) {
  return kind == WorkloadKind::Lm ? "lm" : "mt";
}

namespace {

int64_t attentionParameters(int64_t d) {
  return 4 * d * d + 4 * d;
}
int64_t layerNormParameters(int64_t d) {
  return 2 * d;
}
int64_t ffnParameters(int64_t d, int64_t f) {
  return 2 * d * f + f + d;
}

}  // namespace

int64_t ModelConfig::expertParameterCount() const {
  return moeLayerCount() * numExperts * ffnParameters(dModel, ffnDim);
}

// Mirrors what the model builders allocate (workloads/transformer.cpp); a test checks that.
int64_t ModelConfig::parameterCount() const {
  const int64_t d = dModel;
  int64_t block = attentionParameters(d) + 2 * layerNormParameters(d);
  int64_t total = vocab * d;  // embedding, tied with the output projection
  if (workload == WorkloadKind::Lm) total += maxPositions * d;  // learned positions
  for (int64_t stack = 0; stack < stacks(); ++stack) {
    bool decoderOfMt = workload == WorkloadKind::Mt && stack == 1;
    int64_t perBlock = block + (decoderOfMt ? attentionParameters(d) + layerNormParameters(d) : 0);
    total += layers * perBlock + layerNormParameters(d);
    int64_t moeBlocks = moeBlocksPerStack();
    total += (layers - moeBlocks) * ffnParameters(d, ffnDim);
    total += moeBlocks * (d * numExperts + numExperts * ffnParameters(d, ffnDim));
  }
  return total;
}

}  // namespace moeprof::workloads
