#pragma once
// Pre-LN transformer blocks shared by both workloads: self-attention (causal or not, with an
// optional KV cache for incremental decoding), optional cross-attention (MT decoder), and a
// dense or MoE FFN sublayer. Weights are plain ATen tensors, so the same code runs on any device.
#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "workloads/model/model_config.h"
#include "workloads/model/moe_layer.h"

namespace moeprof::workloads {

struct LinearWeights {
  at::Tensor weight;  // (in, out)
  at::Tensor bias;    // (out); undefined: no bias
};

// LayerNorm, or RMSNorm when beta is undefined.
struct LayerNormWeights {
  at::Tensor gamma;
  at::Tensor beta;
  double eps = 1e-5;
};

struct AttentionWeights {
  LinearWeights query, key, value, out;
  LayerNormWeights queryNorm, keyNorm;  // defined for ModelConfig::qkNorm
};

struct BlockWeights {
  LayerNormWeights selfNorm;
  AttentionWeights self;
  bool hasCross = false;
  LayerNormWeights crossNorm;
  AttentionWeights cross;
  LayerNormWeights ffnNorm;
  bool moe = false;
  bool swiGlu = false;              // denseFfn's w1 holds [gate | up], see MoeLayerWeights
  MoeLayerWeights moeFfn;           // when moe
  kernels::ExpertWeights denseFfn;  // when !moe (one "expert")
};

// Keys and values of past positions (self-attention) and of the encoder output
// (cross-attention) for one block, kept across decoding steps.
struct BlockCache {
  at::Tensor selfKeys, selfValues;    // (B, T_past, d_model)
  at::Tensor crossKeys, crossValues;  // (B, T_source, d_model)
};

struct BlockInputs {
  int64_t heads = 1;
  int64_t kvHeads = 0;   // 0: as many as heads
  double ropeTheta = 0;  // rotary positions when > 0 (counted from the cached keys)
  bool causal = false;
  BlockCache* cache = nullptr;             // null: no caching (full-sequence forward)
  const at::Tensor* encoderOut = nullptr;  // (B, T_source, d_model) for cross-attention
  // T5 attention (ModelConfig::scaleAttention false), on the ATen path: scores unscaled, and
  // the self-attention's plus a (1, heads, T, T_past + T) relative position bias when set.
  bool scaleAttention = true;
  const at::Tensor* positionBias = nullptr;
};

// x: (B, T, d_model) -> (B, T, d_model).
at::Tensor blockForward(const BlockWeights& block, const at::Tensor& x, const BlockInputs& inputs,
                        ForwardContext& context);

at::Tensor layerNorm(const LayerNormWeights& norm, const at::Tensor& x);

// How a model's weights start: seeded random, or uninitialized memory that a checkpoint is
// about to fill (skips the random draws and leaves pages untouched until then).
enum class WeightInit { Random, Uninitialized };

// Creates seeded random weights (normal, std 0.02, like OPT/fairseq init) on one device.
class WeightFactory {
 public:
  WeightFactory(uint64_t seed, at::Device device, WeightInit init = WeightInit::Random);
  at::Tensor normal(at::IntArrayRef shape);
  at::Tensor zeros(at::IntArrayRef shape);
  LinearWeights linear(int64_t in, int64_t out);
  LayerNormWeights layerNorm(int64_t dim);
  LayerNormWeights norm(const ModelConfig& config, int64_t dim);  // LayerNorm or RMSNorm
  AttentionWeights selfAttention(const ModelConfig& config);      // with the config's variants
  AttentionWeights attention(int64_t dim);
  AttentionWeights crossAttention(const ModelConfig& config);  // the config's biases
  kernels::ExpertWeights experts(int64_t count, int64_t dim, int64_t ffn);
  BlockWeights block(const ModelConfig& config, bool cross, bool moe, int64_t moeLayerId);
  int64_t bytesCreated() const { return bytesCreated_; }

 private:
  at::Generator generator_;
  at::Device device_;
  WeightInit init_;
  int64_t bytesCreated_ = 0;
};

// T5's relative position buckets of (key position - query position) values (int64 tensor):
// half the buckets for each sign when bidirectional (else later keys share bucket 0), half of
// those one per distance, the rest logarithmic up to maxDistance, beyond it the last bucket.
at::Tensor relativePositionBucket(const at::Tensor& relativePosition, bool bidirectional,
                                  int64_t buckets, int64_t maxDistance);
// The bias a (buckets, heads) table gives queries at positions [past, past + queries) over keys
// [0, keys): (1, heads, queries, keys).
at::Tensor relativePositionBias(const at::Tensor& table, int64_t past, int64_t queries,
                                int64_t keys, bool bidirectional, int64_t maxDistance);

// Attention with ATen operators as Hugging Face's T5 computes it: per head q k^T, optionally
// scaled by 1 / sqrt(head dim), plus `bias` (broadcast to (B, heads, T, S); may be undefined),
// causally masked, softmax in float32, times v. q: (B, T, heads x head dim), k, v: (B, S, ..).
at::Tensor biasedAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           int64_t heads, const at::Tensor& bias, bool scale, bool causal);

// Sinusoidal position embeddings (fairseq/M2M100) for positions [start, start + count).
at::Tensor sinusoidalPositions(int64_t start, int64_t count, int64_t dim,
                               const at::TensorOptions& options);

}  // namespace moeprof::workloads
