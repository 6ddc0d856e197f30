#include "workloads/model/models.h"

#include <cmath>

#include <ATen/ATen.h>

namespace moeprof::workloads {

namespace {

Stack makeStack(const ModelConfig& config, WeightFactory& factory, bool cross,
                int64_t& nextMoeLayerId) {
  Stack stack;
  if (config.relativeAttentionBuckets > 0) {
    stack.relativeBias = factory.normal({config.relativeAttentionBuckets, config.heads});
  }
  for (int64_t i = 0; i < config.layers; ++i) {
    bool moe = config.isMoeBlock(i);
    stack.blocks.push_back(factory.block(config, cross, moe, moe ? nextMoeLayerId : -1));
    if (moe) ++nextMoeLayerId;
  }
  stack.finalNorm = factory.norm(config, config.dModel);
  return stack;
}

at::Tensor runStack(const Stack& stack, at::Tensor x, BlockInputs inputs,
                    std::vector<BlockCache>* caches, ForwardContext& context) {
  for (size_t i = 0; i < stack.blocks.size(); ++i) {
    inputs.cache = caches ? &(*caches)[i] : nullptr;
    x = blockForward(stack.blocks[i], x, inputs, context);
  }
  return layerNorm(stack.finalNorm, x);
}

void appendStackParameters(const Stack& stack, const std::string& prefix,
                           std::vector<NamedParameter>& out) {
  if (stack.relativeBias.defined()) {
    out.push_back({prefix + "relative_attention_bias.weight", stack.relativeBias});
  }
  for (size_t i = 0; i < stack.blocks.size(); ++i) {
    appendBlockParameters(stack.blocks[i], prefix + "layers." + std::to_string(i) + ".", out);
  }
  appendLayerNormParameters(stack.finalNorm, prefix + "layer_norm.", out);
}

}  // namespace

std::vector<MoeLayerWeights*> moeLayersOf(std::initializer_list<Stack*> stacks) {
  std::vector<MoeLayerWeights*> layers;
  for (Stack* stack : stacks) {
    for (auto& block : stack->blocks) {
      if (block.moe) layers.push_back(&block.moeFfn);
    }
  }
  return layers;
}

int64_t addPregatesTo(Stack& stack) {
  int64_t bytes = 0;
  MoeLayerWeights* previous = nullptr;
  for (auto& block : stack.blocks) {
    if (!block.moe) continue;
    if (previous) {
      previous->pregate = at::zeros({previous->router.size(0), block.moeFfn.router.size(1)},
                                    previous->router.options());
      bytes += previous->pregate.nbytes();
    }
    previous = &block.moeFfn;
  }
  return bytes;
}

int64_t dropExpertsOf(const std::vector<MoeLayerWeights*>& layers) {
  int64_t bytes = 0;
  for (auto* layer : layers) {
    bytes += layer->experts.bytes();
    layer->experts = {};
  }
  return bytes;
}

LmModel::LmModel(const ModelConfig& config, uint64_t seed, at::Device device, WeightInit init)
    : config_(config) {
  TORCH_CHECK(config.workload == WorkloadKind::Lm, "LmModel needs an lm preset");
  WeightFactory factory(seed, device, init);
  embedding_ = factory.normal({config.vocab, config.dModel});
  if (config.ropeTheta <= 0) positions_ = factory.normal({config.maxPositions, config.dModel});
  int64_t moeLayerId = 0;
  decoder_ = makeStack(config, factory, /*cross=*/false, moeLayerId);
  if (!config.tiedOutput) lmHead_ = factory.normal({config.vocab, config.dModel});
  weightBytes_ = factory.bytesCreated();
  if (config.pregates) weightBytes_ += addPregatesTo(decoder_);
}

void LmModel::addPregates() {
  if (config_.pregates) return;
  config_.pregates = true;
  weightBytes_ += addPregatesTo(decoder_);
}

std::vector<NamedParameter> LmModel::namedParameters() const {
  std::vector<NamedParameter> out{{"embed_tokens.weight", embedding_}};
  if (positions_.defined()) out.push_back({"embed_positions.weight", positions_});
  appendStackParameters(decoder_, "decoder.", out);
  if (lmHead_.defined()) out.push_back({"lm_head.weight", lmHead_});
  return out;
}

at::Tensor LmModel::forward(const at::Tensor& tokens, ForwardContext& context,
                            std::vector<BlockCache>* caches) const {
  collector::NvtxRange range("lm.forward");
  const int64_t past =
      caches && (*caches)[0].selfKeys.defined() ? (*caches)[0].selfKeys.size(1) : 0;
  TORCH_CHECK(past + tokens.size(1) <= config_.maxPositions, "sequence longer than the ",
              config_.maxPositions, " positions of ", config_.name);
  auto x = at::embedding(embedding_, tokens);
  if (positions_.defined()) x = x + positions_.narrow(0, past, tokens.size(1));
  BlockInputs inputs;
  inputs.heads = config_.heads;
  inputs.kvHeads = config_.kvHeadCount();
  inputs.ropeTheta = config_.ropeTheta;
  inputs.causal = true;
  x = runStack(decoder_, x, inputs, caches, context);
  collector::PhaseScope scope(context.phases, collector::Phase::Other);
  return at::matmul(x, (lmHead_.defined() ? lmHead_ : embedding_).t());
}

MtModel::MtModel(const ModelConfig& config, uint64_t seed, at::Device device, WeightInit init)
    : config_(config) {
  TORCH_CHECK(config.workload == WorkloadKind::Mt, "MtModel needs an mt preset");
  WeightFactory factory(seed, device, init);
  embedding_ = factory.normal({config.vocab, config.dModel});
  int64_t moeLayerId = 0;
  encoder_ = makeStack(config, factory, /*cross=*/false, moeLayerId);
  decoder_ = makeStack(config, factory, /*cross=*/true, moeLayerId);
  if (!config.tiedOutput) lmHead_ = factory.normal({config.vocab, config.dModel});
  weightBytes_ = factory.bytesCreated();
  if (config.pregates) weightBytes_ += addPregatesTo(encoder_) + addPregatesTo(decoder_);
}

void MtModel::addPregates() {
  if (config_.pregates) return;
  config_.pregates = true;
  weightBytes_ += addPregatesTo(encoder_) + addPregatesTo(decoder_);
}

at::Tensor MtModel::decode(const at::Tensor& previous, const at::Tensor& encoderOut,
                           ForwardContext& context) const {
  BlockInputs inputs;
  inputs.heads = config_.heads;
  inputs.causal = true;
  inputs.encoderOut = &encoderOut;
  at::Tensor bias;
  setPositionBias(decoder_, 0, previous.size(1), inputs, bias);
  auto y = runStack(decoder_, embed(previous, 0), inputs, nullptr, context);
  return logits(y);
}

void MtModel::setPositionBias(const Stack& stack, int64_t past, int64_t queries,
                              BlockInputs& inputs, at::Tensor& bias) const {
  inputs.scaleAttention = config_.scaleAttention;
  if (!stack.relativeBias.defined()) return;
  bias =
      relativePositionBias(stack.relativeBias, past, queries, past + queries,
                           /*bidirectional=*/!inputs.causal, config_.relativeAttentionMaxDistance);
  inputs.positionBias = &bias;
}

at::Tensor MtModel::logits(const at::Tensor& hidden) const {
  const auto& output = lmHead_.defined() ? lmHead_ : embedding_;
  if (config_.outputHiddenScale == 1.0) return at::matmul(hidden, output.t());
  return at::matmul(hidden * config_.outputHiddenScale, output.t());
}

std::vector<NamedParameter> MtModel::namedParameters() const {
  std::vector<NamedParameter> out{{"embed_tokens.weight", embedding_}};
  appendStackParameters(encoder_, "encoder.", out);
  appendStackParameters(decoder_, "decoder.", out);
  if (lmHead_.defined()) out.push_back({"lm_head.weight", lmHead_});
  return out;
}

at::Tensor MtModel::embed(const at::Tensor& tokens, int64_t firstPosition) const {
  auto scaled = at::embedding(embedding_, tokens);
  if (config_.scaleEmbedding) scaled = scaled * std::sqrt(static_cast<double>(config_.dModel));
  if (config_.relativeAttentionBuckets > 0) return scaled;  // positions are in the attention
  return scaled + sinusoidalPositions(firstPosition + config_.positionOffset, tokens.size(1),
                                      config_.dModel, scaled.options());
}

at::Tensor MtModel::encode(const at::Tensor& source, ForwardContext& context) const {
  collector::NvtxRange range("mt.encoder");
  BlockInputs inputs;
  inputs.heads = config_.heads;
  at::Tensor bias;
  setPositionBias(encoder_, 0, source.size(1), inputs, bias);
  return runStack(encoder_, embed(source, 0), inputs, nullptr, context);
}

at::Tensor MtModel::decodeStep(const at::Tensor& previous, int64_t step,
                               const at::Tensor& encoderOut, std::vector<BlockCache>& caches,
                               ForwardContext& context) const {
  collector::NvtxRange range("mt.decoder_step");
  BlockInputs inputs;
  inputs.heads = config_.heads;
  inputs.causal = true;
  inputs.encoderOut = &encoderOut;
  at::Tensor bias;
  const int64_t past = caches[0].selfKeys.defined() ? caches[0].selfKeys.size(1) : 0;
  setPositionBias(decoder_, past, previous.size(1), inputs, bias);
  auto y = runStack(decoder_, embed(previous, step), inputs, &caches, context);
  collector::PhaseScope scope(context.phases, collector::Phase::Other);
  return logits(y.select(1, 0));
}

}  // namespace moeprof::workloads
