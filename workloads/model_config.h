#pragma once
// The shape of a workload model: an MoE language model (decoder-only, fairseq MoE LM / OPT
// style) or an MoE translation model (encoder-decoder, NLLB-MoE style), or their dense
// counterparts. Plain data: creating a config allocates no weights.
#include <cstdint>
#include <string>

namespace moeprof::workloads {

enum class WorkloadKind { Lm, Mt };
const char* workloadName(WorkloadKind kind);  // "lm", "mt"

struct ModelConfig {
  std::string name;
  std::string description;
  WorkloadKind workload = WorkloadKind::Lm;
  bool moe = true;  // false: the dense counterpart (every FFN dense)
  int64_t dModel = 0;
  int64_t ffnDim = 0;
  int64_t heads = 0;
  int64_t vocab = 0;
  int64_t maxPositions = 0;
  int64_t layers = 0;  // LM: decoder blocks; MT: blocks per stack (encoder and decoder each)
  int64_t numExperts = 1;
  int64_t topK = 1;
  int64_t moeEvery = 1;  // block i (0-based) is MoE when (i + 1) % moeEvery == 0
  double capacityFactor = 1.0;
  int64_t defaultBatch = 1;
  int64_t defaultSeqLen = 1;       // LM: tokens per sequence; MT: source tokens per sentence
  int64_t defaultDecodeSteps = 0;  // MT only
  bool needsLargeMachine = false;
  // Every MoE layer followed by another in its stack has a trained pre-gate (MoeLayerWeights).
  bool pregates = false;

  bool isMoeBlock(int64_t block) const { return moe && (block + 1) % moeEvery == 0; }
  int64_t moeBlocksPerStack() const { return moe ? layers / moeEvery : 0; }
  int64_t stacks() const { return workload == WorkloadKind::Mt ? 2 : 1; }
  int64_t moeLayerCount() const { return moeBlocksPerStack() * stacks(); }
  int64_t parameterCount() const;
  int64_t expertParameterCount() const;  // parameters inside experts (0 for dense)
  int64_t weightBytes() const { return parameterCount() * 4; }  // fp32
};

}  // namespace moeprof::workloads
