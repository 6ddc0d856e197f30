#include "workloads/model/transformer.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "kernels/attention.h"

namespace moeprof::workloads {

using collector::Phase;
using collector::PhaseScope;

namespace {

at::Tensor linear(const LinearWeights& w, const at::Tensor& x) {
  auto y = at::matmul(x, w.weight);
  return w.bias.defined() ? y.add_(w.bias) : y;
}

// Rotary positions (rotate-half form, as Llama/Mixtral in Hugging Face) on x: (B, T, heads x
// head_dim), tokens at positions [start, start + T).
at::Tensor rotary(const at::Tensor& x, int64_t start, int64_t heads, double theta) {
  const int64_t b = x.size(0), t = x.size(1), headDim = x.size(2) / heads, half = headDim / 2;
  auto options = x.options().dtype(at::kFloat);
  auto inverseFrequency = at::reciprocal(
      at::pow(theta, at::arange(0, headDim, 2, options) / static_cast<double>(headDim)));
  auto angles = at::outer(at::arange(start, start + t, options), inverseFrequency);
  auto doubled = at::cat({angles, angles}, 1).view({1, t, 1, headDim});
  auto heads4 = x.reshape({b, t, heads, headDim});
  auto rotated = at::cat({-heads4.narrow(3, half, half), heads4.narrow(3, 0, half)}, 3);
  return (heads4 * doubled.cos() + rotated * doubled.sin()).reshape({b, t, heads * headDim});
}

// Grouped KV heads: query head h reads KV head h / (heads / kvHeads).
at::Tensor repeatKv(const at::Tensor& x, int64_t kvHeads, int64_t heads) {
  if (kvHeads == heads) return x;
  const int64_t b = x.size(0), s = x.size(1), headDim = x.size(2) / kvHeads;
  return x.reshape({b, s, kvHeads, 1, headDim})
      .expand({b, s, kvHeads, heads / kvHeads, headDim})
      .reshape({b, s, heads * headDim});
}

at::Tensor selfAttention(const AttentionWeights& w, const at::Tensor& x, const BlockInputs& in) {
  auto q = linear(w.query, x), k = linear(w.key, x), v = linear(w.value, x);
  if (w.queryNorm.gamma.defined()) {
    q = layerNorm(w.queryNorm, q);
    k = layerNorm(w.keyNorm, k);
  }
  const int64_t kvHeads = in.kvHeads > 0 ? in.kvHeads : in.heads;
  if (in.ropeTheta > 0) {
    const int64_t past = in.cache && in.cache->selfKeys.defined() ? in.cache->selfKeys.size(1) : 0;
    q = rotary(q, past, in.heads, in.ropeTheta);
    k = rotary(k, past, kvHeads, in.ropeTheta);
  }
  if (in.cache) {
    if (in.cache->selfKeys.defined()) {
      k = at::cat({in.cache->selfKeys, k}, 1);
      v = at::cat({in.cache->selfValues, v}, 1);
    }
    in.cache->selfKeys = k;
    in.cache->selfValues = v;
  }
  k = repeatKv(k, kvHeads, in.heads);
  v = repeatKv(v, kvHeads, in.heads);
  if (!in.scaleAttention || in.positionBias) {
    const at::Tensor bias = in.positionBias ? *in.positionBias : at::Tensor();
    return linear(w.out, biasedAttention(q, k, v, in.heads, bias, in.scaleAttention, in.causal));
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
  if (!in.scaleAttention) {
    return linear(w.out, biasedAttention(linear(w.query, x), k, v, in.heads, at::Tensor(),
                                         /*scale=*/false, /*causal=*/false));
  }
  return linear(w.out, kernels::attention(linear(w.query, x), k, v, in.heads, /*causal=*/false));
}

at::Tensor ffnSublayer(const BlockWeights& block, const at::Tensor& x, ForwardContext& context) {
  auto flat = x.reshape({-1, x.size(2)});
  auto out = block.moe      ? moeForward(block.moeFfn, flat, context)
             : block.swiGlu ? swiGluFfnForward(block.denseFfn, flat, context)
                            : denseFfnForward(block.denseFfn, flat, context);
  return out.view(x.sizes());
}

}  // namespace

at::Tensor relativePositionBucket(const at::Tensor& relativePosition, bool bidirectional,
                                  int64_t buckets, int64_t maxDistance) {
  auto bucket = at::zeros_like(relativePosition);
  auto distance = relativePosition;
  if (bidirectional) {
    buckets /= 2;
    bucket = bucket + (relativePosition > 0).to(at::kLong) * buckets;
    distance = relativePosition.abs();
  } else {
    distance = -at::clamp_max(relativePosition, 0);  // later keys: distance 0
  }
  const int64_t exact = buckets / 2;
  // Float32 as in Hugging Face's code, so that the truncation lands on the same bucket. Short
  // distances take the exact branch; clamping them keeps log(0) out of the integer cast.
  auto logarithmic = (at::log(distance.clamp_min(1).to(at::kFloat) / static_cast<double>(exact)) /
                      std::log(static_cast<double>(maxDistance) / static_cast<double>(exact)) *
                      static_cast<double>(buckets - exact))
                         .to(at::kLong)
                         .add_(exact)
                         .clamp_max_(buckets - 1);
  return bucket + at::where(distance < exact, distance, logarithmic);
}

at::Tensor relativePositionBias(const at::Tensor& table, int64_t past, int64_t queries,
                                int64_t keys, bool bidirectional, int64_t maxDistance) {
  auto options = at::TensorOptions().dtype(at::kLong).device(table.device());
  auto relative = at::arange(keys, options).unsqueeze(0) -
                  at::arange(past, past + queries, options).unsqueeze(1);
  auto buckets = relativePositionBucket(relative, bidirectional, table.size(0), maxDistance);
  return at::embedding(table, buckets).permute({2, 0, 1}).unsqueeze(0);
}

at::Tensor biasedAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           int64_t heads, const at::Tensor& bias, bool scale, bool causal) {
  const int64_t batch = q.size(0), queries = q.size(1), keys = k.size(1);
  auto split = [&](const at::Tensor& x) {
    return x.reshape({batch, x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
  };
  auto scores = at::matmul(split(q), split(k).transpose(-2, -1));
  if (scale) scores = scores * (1.0 / std::sqrt(static_cast<double>(q.size(2) / heads)));
  if (bias.defined()) scores = scores + bias;
  if (causal && queries > 1) {
    auto future = at::ones({queries, keys}, q.options().dtype(at::kBool)).triu(keys - queries + 1);
    scores = scores.masked_fill(future, -std::numeric_limits<float>::infinity());
  }
  auto weights = at::softmax(scores.to(at::kFloat), -1).to(scores.scalar_type());
  return at::matmul(weights, split(v)).transpose(1, 2).reshape({batch, queries, v.size(2)});
}

at::Tensor layerNorm(const LayerNormWeights& norm, const at::Tensor& x) {
  if (!norm.beta.defined()) {  // RMSNorm, in Hugging Face's order of operations
    return norm.gamma * (x * at::rsqrt(x.pow(2).mean({-1}, /*keepdim=*/true).add(norm.eps)));
  }
  return at::layer_norm(x, {x.size(-1)}, norm.gamma, norm.beta, norm.eps);
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

LayerNormWeights WeightFactory::norm(const ModelConfig& config, int64_t dim) {
  if (!config.rmsNorm) return layerNorm(dim);
  return {zeros({dim}).fill_(1.0), at::Tensor(), config.normEps};
}

AttentionWeights WeightFactory::selfAttention(const ModelConfig& config) {
  const int64_t d = config.dModel, kv = d / config.heads * config.kvHeadCount();
  auto projection = [&](int64_t out, bool bias) {
    return LinearWeights{normal({d, out}), bias ? zeros({out}) : at::Tensor()};
  };
  AttentionWeights a{projection(d, config.qkvBias), projection(kv, config.qkvBias),
                     projection(kv, config.qkvBias), projection(d, config.outBias)};
  if (config.qkNorm) {
    a.queryNorm = norm(config, d);
    a.keyNorm = norm(config, kv);
  }
  return a;
}

AttentionWeights WeightFactory::attention(int64_t dim) {
  return {linear(dim, dim), linear(dim, dim), linear(dim, dim), linear(dim, dim)};
}

AttentionWeights WeightFactory::crossAttention(const ModelConfig& config) {
  const int64_t d = config.dModel;
  if (config.qkvBias && config.outBias) return attention(d);
  auto projection = [&](bool bias) {
    return LinearWeights{normal({d, d}), bias ? zeros({d}) : at::Tensor()};
  };
  return {projection(config.qkvBias), projection(config.qkvBias), projection(config.qkvBias),
          projection(config.outBias)};
}

kernels::ExpertWeights WeightFactory::experts(int64_t count, int64_t dim, int64_t ffn) {
  return {normal({count, dim, ffn}), zeros({count, ffn}), normal({count, ffn, dim}),
          zeros({count, dim})};
}

BlockWeights WeightFactory::block(const ModelConfig& config, bool cross, bool moe,
                                  int64_t moeLayerId) {
  const int64_t d = config.dModel;
  // SwiGLU FFNs hold gate and up side by side in w1 (workloads/model/moe_layer.h).
  auto ffn = [&](int64_t count, int64_t width, bool swiGlu) {
    if (!swiGlu) return experts(count, d, width);
    return kernels::ExpertWeights{normal({count, d, 2 * width}), zeros({count, 2 * width}),
                                  normal({count, width, d}), zeros({count, d})};
  };
  BlockWeights b;
  b.selfNorm = norm(config, d);
  b.self = selfAttention(config);
  b.hasCross = cross;
  if (cross) {
    b.crossNorm = norm(config, d);
    b.cross = crossAttention(config);
  }
  b.ffnNorm = norm(config, d);
  b.moe = moe;
  b.swiGlu = config.swiGlu;
  if (moe) {
    b.moeFfn = {moeLayerId, config.topK, normal({d, config.numExperts}),
                ffn(config.numExperts, config.ffnDim, config.swiGlu), config.expertOutputScale};
    b.moeFfn.swiGlu = config.swiGlu;
    b.moeFfn.gateNorm = config.gateNorm;
    if (config.sharedExpertFfnDim > 0) {
      b.moeFfn.shared = ffn(1, config.sharedExpertFfnDim, true);
      b.moeFfn.sharedGate = normal({d, 1});
    }
  } else {
    b.denseFfn = ffn(1, config.ffnDim, config.swiGlu);
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
