#pragma once
// The two workload models. LmModel: decoder-only, pre-LN, learned positions, tied output
// embedding (fairseq MoE LM / OPT). MtModel: encoder-decoder with cross-attention, sinusoidal
// positions, scaled and tied embeddings (NLLB-MoE / M2M100), greedy incremental decoding.
#include <cstdint>
#include <initializer_list>
#include <vector>

#include <ATen/core/Tensor.h>

#include "workloads/model/model_config.h"
#include "workloads/model/parameter_names.h"
#include "workloads/model/transformer.h"

namespace moeprof::workloads {

// Weights of one stack of blocks plus its final layer norm.
struct Stack {
  std::vector<BlockWeights> blocks;
  LayerNormWeights finalNorm;
  at::Tensor relativeBias;  // (buckets, heads) with ModelConfig::relativeAttentionBuckets
};

// The MoE layers of stacks, in order; and freeing their experts (returns the bytes freed).
std::vector<MoeLayerWeights*> moeLayersOf(std::initializer_list<Stack*> stacks);
int64_t dropExpertsOf(const std::vector<MoeLayerWeights*>& layers);
// Gives every MoE layer that has a next MoE layer in its stack a pre-gate of zeros (the trainer
// fills it); returns the bytes added.
int64_t addPregatesTo(Stack& stack);

class LmModel {
 public:
  LmModel(const ModelConfig& config, uint64_t seed, at::Device device,
          WeightInit init = WeightInit::Random);

  // tokens: (B, T) int64 -> logits (B, T, vocab). With caches (one per block), keys and values
  // are appended to them and positions start after what they already hold.
  at::Tensor forward(const at::Tensor& tokens, ForwardContext& context,
                     std::vector<BlockCache>* caches = nullptr) const;
  std::vector<BlockCache> newCaches() const {
    return std::vector<BlockCache>(decoder_.blocks.size());
  }
  const ModelConfig& config() const { return config_; }
  int64_t weightBytes() const { return weightBytes_; }
  // Every parameter with its checkpoint name (workloads/model/parameter_names.h), in model order.
  std::vector<NamedParameter> namedParameters() const;
  // The MoE layers in routing-log order (what Expert Buffering moves experts out of).
  std::vector<MoeLayerWeights*> moeLayers() { return moeLayersOf({&decoder_}); }
  // Frees every MoE layer's experts: they live in an expert store from now on.
  void dropExperts() { weightBytes_ -= dropExpertsOf(moeLayers()); }
  // Adds zero pre-gates (MoeLayerWeights::pregate); the config then says it has them.
  void addPregates();

 private:
  ModelConfig config_;
  at::Tensor embedding_;  // (vocab, d)
  at::Tensor positions_;  // (maxPositions, d); undefined with rotary positions
  Stack decoder_;
  at::Tensor lmHead_;  // (vocab, d) when the output projection is not tied to embedding_
  int64_t weightBytes_ = 0;
};

class MtModel {
 public:
  MtModel(const ModelConfig& config, uint64_t seed, at::Device device,
          WeightInit init = WeightInit::Random);

  // source: (B, S) int64 -> encoder output (B, S, d).
  at::Tensor encode(const at::Tensor& source, ForwardContext& context) const;
  // One greedy decoding step: previous tokens (B, 1) at position `step` -> logits (B, vocab).
  at::Tensor decodeStep(const at::Tensor& previous, int64_t step, const at::Tensor& encoderOut,
                        std::vector<BlockCache>& caches, ForwardContext& context) const;
  // Teacher forcing (training): previous target tokens (B, T) from position 0, every position
  // at once under the causal mask -> logits (B, T, vocab).
  at::Tensor decode(const at::Tensor& previous, const at::Tensor& encoderOut,
                    ForwardContext& context) const;
  std::vector<BlockCache> newCaches() const {
    return std::vector<BlockCache>(decoder_.blocks.size());
  }
  const ModelConfig& config() const { return config_; }
  int64_t weightBytes() const { return weightBytes_; }
  std::vector<NamedParameter> namedParameters() const;
  std::vector<MoeLayerWeights*> moeLayers() { return moeLayersOf({&encoder_, &decoder_}); }
  void dropExperts() { weightBytes_ -= dropExpertsOf(moeLayers()); }
  void addPregates();
  // Decoding starts from it, as fairseq's </s> (ModelConfig::decoderStartToken's default;
  // T5-style checkpoints start from their pad token instead).
  static constexpr int64_t kBosToken = 2;

 private:
  at::Tensor embed(const at::Tensor& tokens, int64_t firstPosition) const;
  // The stack's relative position bias in `inputs` (T5 variant); kept alive by `bias`.
  void setPositionBias(const Stack& stack, int64_t past, int64_t queries, BlockInputs& inputs,
                       at::Tensor& bias) const;
  at::Tensor logits(const at::Tensor& hidden) const;
  ModelConfig config_;
  at::Tensor embedding_;  // (vocab, d), shared by encoder, decoder and output projection
  Stack encoder_;
  Stack decoder_;
  at::Tensor lmHead_;  // (vocab, d) when the output projection is not tied to embedding_
  int64_t weightBytes_ = 0;
};

}  // namespace moeprof::workloads
