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
  // Numeric variants that checkpoints of other layouts need
  // (workloads/checkpoints/hf_checkpoint.h); the defaults are moeprof's own models. MT: the
  // sinusoidal position of the first token (NLLB-MoE and M2M100 count from pad id + 1) and whether
  // embeddings are scaled by sqrt(d_model).
  int64_t positionOffset = 0;
  bool scaleEmbedding = true;
  // Every MoE layer's output times this (NLLB-MoE at inference: 1 - moe_token_dropout).
  double expertOutputScale = 1.0;
  // Decoder-only variants (Mixtral, OLMoE, Qwen2-MoE; LM only, on the ATen path): RMSNorm
  // without bias instead of LayerNorm, SwiGLU FFNs (silu(x gate) * (x up), then down) without
  // biases, rotary positions instead of learned ones, grouped KV heads, an untied lm_head,
  // RMSNorm on the whole query and key projections (OLMoE), and shared experts with a sigmoid
  // gate (Qwen2-MoE).
  bool rmsNorm = false;
  double normEps = 1e-5;
  bool swiGlu = false;
  double ropeTheta = 0;  // 0: positions are learned (LM) or sinusoidal (MT)
  int64_t kvHeads = 0;   // 0: as many as heads
  bool qkvBias = true;
  bool outBias = true;  // the attention output projection's
  bool tiedOutput = true;
  bool qkNorm = false;
  // How the k gate weights of a token are normalized: as fairseq (raw for k = 1, summing to 1
  // for k >= 2), always summing to 1 (Mixtral, norm_topk_prob), or the raw probabilities.
  enum class GateNorm { Fairseq, Renormalize, Raw };
  GateNorm gateNorm = GateNorm::Fairseq;
  int64_t sharedExpertFfnDim = 0;  // 0: no shared expert
  int64_t kvHeadCount() const { return kvHeads > 0 ? kvHeads : heads; }
  // Every MoE layer followed by another in its stack has a trained pre-gate (MoeLayerWeights).
  bool pregates = false;
  // T5-style MT variants (SwitchTransformers; attention on the ATen path): learned relative
  // position biases, bucketed as T5 and shared by the blocks of a stack (none on
  // cross-attention), replace the sinusoidal positions; attention scores are not scaled by
  // 1 / sqrt(head dim); the decoder's last hidden states are scaled by outputHiddenScale
  // before the output projection (T5 with tied embeddings: d_model^-0.5); an untied lm_head
  // when !tiedOutput; decoding starts from decoderStartToken (T5: pad, 0).
  int64_t relativeAttentionBuckets = 0;  // 0: no relative position bias
  int64_t relativeAttentionMaxDistance = 128;
  bool scaleAttention = true;
  double outputHiddenScale = 1.0;
  int64_t decoderStartToken = 2;  // fairseq's </s> (MtModel::kBosToken)
  // The first MoE block, then every moeEvery-th; -1: block moeEvery - 1 (fairseq's rule).
  // SwitchTransformers: 1 for a sparse step of 2 or more, 0 for a step of 1.
  int64_t moeFirstBlock = -1;

  int64_t firstMoeBlock() const { return moeFirstBlock >= 0 ? moeFirstBlock : moeEvery - 1; }
  bool isMoeBlock(int64_t block) const {
    return moe && block >= firstMoeBlock() && (block - firstMoeBlock()) % moeEvery == 0;
  }
  int64_t moeBlocksPerStack() const {
    return moe && layers > firstMoeBlock() ? (layers - 1 - firstMoeBlock()) / moeEvery + 1 : 0;
  }
  int64_t stacks() const { return workload == WorkloadKind::Mt ? 2 : 1; }
  int64_t moeLayerCount() const { return moeBlocksPerStack() * stacks(); }
  int64_t parameterCount() const;
  int64_t expertParameterCount() const;  // parameters inside experts (0 for dense)
  int64_t weightBytes() const { return parameterCount() * 4; }  // fp32
};

}  // namespace moeprof::workloads
