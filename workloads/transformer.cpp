#include "workloads/transformer.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "kernels/attention.h"

namespace moeprof::workloads {

using collector::Phase;
using collector::PhaseScope;

namespace {

at::Tensor linear(const LinearWeights& w, const at::Tensor& x) {
  return at::matmul(x, w.weight).add_(w.bias);
}

at::Tensor selfAttention(const AttentionWeights& w, const at::Tensor& x, const BlockInputs& in) {
  auto q = linear(w.query, x), k = linear(w.key, x), v = linear(w.value, x);
  if (in.cache) {
    if (in.cache->selfKeys.defined()) {
      k = at::cat({in.cache->selfKeys, k}, 1);
      v = at::cat({in.cache->selfValues, v}, 1);
    }
    in.cache->selfKeys = k;
    in.cache->selfValues = v;
  }
  return linear(w.out, kernels::attention(q, k, v, in.heads, in.causal));
}

at::Tensor crossAttention(const AttentionWeights& w, const at::Tensor& x, const BlockInputs& in) {
  at::Tensor k, v;
  if (in.cache && in.cache->crossKeys.defined()) {
    k = in.cache->crossKeys;
    v = in.cache->crossValues;
  } else {
    TORCH_CHECK(in.encoderOut, "cross-attention needs the encoder output");
    k = linear(w.key, *in.encoderOut);
    v = linear(w.value, *in.encoderOut);
    if (in.cache) {
      in.cache->crossKeys = k;
      in.cache->crossValues = v;
    }
  }
  return linear(w.out, kernels::attention(linear(w.query, x), k, v, in.heads, /*causal=*/false));
}

at::Tensor ffnSublayer(const BlockWeights& block, const at::Tensor& x, ForwardContext& context) {
  auto flat = x.reshape({-1, x.size(2)});
  auto out = block.moe ? moeForward(block.moeFfn, flat, context)
                       : denseFfnForward(block.denseFfn, flat, context);
  return out.view(x.sizes());
}

}  // namespace

at::Tensor layerNorm(const LayerNormWeights& norm, const at::Tensor& x) {
  return at::layer_norm(x, {x.size(-1)}, norm.gamma, norm.beta, 1e-5);
}

at::Tensor blockForward(const BlockWeights& block, const at::Tensor& x, const BlockInputs& inputs,
                        ForwardContext& context) {
  at::Tensor h = x;
  {
    PhaseScope scope(context.phases, Phase::Attention);
    h = h + selfAttention(block.self, layerNorm(block.selfNorm, h), inputs);
    if (block.hasCross) h = h + crossAttention(block.cross, layerNorm(block.crossNorm, h), inputs);
  }
  return h + ffnSublayer(block, layerNorm(block.ffnNorm, h), context);
}

WeightFactory::WeightFactory(uint64_t seed, at::Device device, WeightInit init)
    : generator_(at::make_generator<at::CPUGeneratorImpl>(seed)), device_(device), init_(init) {}

at::Tensor WeightFactory::normal(at::IntArrayRef shape) {
  if (init_ == WeightInit::Uninitialized) {
    auto t = at::empty(shape, at::TensorOptions().dtype(at::kFloat).device(device_));
    bytesCreated_ += t.nbytes();
    return t;
  }
  auto t = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
  t.normal_(0.0, 0.02, generator_);
  bytesCreated_ += t.nbytes();
  return t.to(device_);
}

at::Tensor WeightFactory::zeros(at::IntArrayRef shape) {
  auto t = at::zeros(shape, at::TensorOptions().dtype(at::kFloat).device(device_));
  bytesCreated_ += t.nbytes();
  return t;
}

LinearWeights WeightFactory::linear(int64_t in, int64_t out) {
  return {normal({in, out}), zeros({out})};
}

LayerNormWeights WeightFactory::layerNorm(int64_t dim) {
  return {zeros({dim}).fill_(1.0), zeros({dim})};
}

AttentionWeights WeightFactory::attention(int64_t dim) {
  return {linear(dim, dim), linear(dim, dim), linear(dim, dim), linear(dim, dim)};
}

kernels::ExpertWeights WeightFactory::experts(int64_t count, int64_t dim, int64_t ffn) {
  return {normal({count, dim, ffn}), zeros({count, ffn}), normal({count, ffn, dim}),
          zeros({count, dim})};
}

BlockWeights WeightFactory::block(const ModelConfig& config, bool cross, bool moe,
                                  int64_t moeLayerId) {
  const int64_t d = config.dModel;
  BlockWeights b;
  b.selfNorm = layerNorm(d);
  b.self = attention(d);
  b.hasCross = cross;
  if (cross) {
    b.crossNorm = layerNorm(d);
    b.cross = attention(d);
  }
  b.ffnNorm = layerNorm(d);
  b.moe = moe;
  if (moe) {
    b.moeFfn = {moeLayerId, config.topK, normal({d, config.numExperts}),
                experts(config.numExperts, d, config.ffnDim)};
  } else {
    b.denseFfn = experts(1, d, config.ffnDim);
  }
  return b;
}

at::Tensor sinusoidalPositions(int64_t start, int64_t count, int64_t dim,
                               const at::TensorOptions& options) {
  const int64_t half = dim / 2;
  auto positions = at::arange(start, start + count, options.dtype(at::kFloat)).unsqueeze(1);
  auto rates = at::exp(at::arange(half, options.dtype(at::kFloat)) *
                       (-std::log(10000.0) / std::max<int64_t>(1, half - 1)));
  auto angles = positions * rates.unsqueeze(0);
  auto table = at::cat({at::sin(angles), at::cos(angles)}, 1);
  if (dim % 2 == 1) table = at::cat({table, at::zeros({count, 1}, table.options())}, 1);
  return table;
}

}  // namespace moeprof::workloads
