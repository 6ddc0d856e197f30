// The attention kernel against the ATen reference: plain, causal, causal with a KV-cache past,
// one decoding query, several causal query tiles, odd head sizes, scores far apart; and the
// ATen fallback for autograd and for strided inputs.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "kernels/attention.h"

namespace moeprof {
namespace {

at::Tensor randomTensor(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
}

TEST(Attention, CpuKernelMatchesTheAtenReference) {
  struct Case {
    int64_t batch, queries, keys, dModel, heads;
    bool causal;
  };
  for (const Case& c : std::vector<Case>{
           {2, 7, 7, 12, 3, false},
           {2, 7, 7, 12, 3, true},
           {3, 4, 9, 16, 4, true},       // KV cache: 5 past keys
           {3, 1, 9, 16, 2, true},       // one decoding step
           {1, 5, 11, 8, 1, false},      // cross-attention shape
           {2, 70, 70, 16, 2, true},     // three causal query tiles, the last one partial
           {2, 45, 100, 15, 3, true},    // tiles with a KV cache past; head size 5
           {1, 33, 40, 7, 1, false},     // one head of 7, rows not a multiple of the lanes
           {2, 1, 1, 8, 2, true},        // one query, one key
           {1, 1, 257, 64, 4, true},     // a decoding step against a long cache
           {1, 64, 64, 64, 4, true}}) {  // exactly two tiles
    auto q = randomTensor({c.batch, c.queries, c.dModel}, 1);
    auto k = randomTensor({c.batch, c.keys, c.dModel}, 2);
    auto v = randomTensor({c.batch, c.keys, c.dModel}, 3);
    auto expected = kernels::attentionAten(q, k, v, c.heads, c.causal);
    auto got = kernels::attention(q, k, v, c.heads, c.causal);
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_TRUE(at::allclose(got, expected, 1e-5, 1e-5))
        << "T=" << c.queries << " S=" << c.keys << " causal=" << c.causal << " max diff "
        << at::sub(got, expected).abs().max().item<float>();
  }
}

TEST(Attention, CausalQueriesIgnoreLaterKeys) {
  for (int64_t tokens : {4, 40, 100}) {  // one query tile, and keys masked inside later tiles
    auto q = randomTensor({1, tokens, 8}, 4);
    auto k = randomTensor({1, tokens, 8}, 5);
    auto v = randomTensor({1, tokens, 8}, 6);
    auto before = kernels::attention(q, k, v, 2, true);
    auto changed = v.clone();
    changed.select(1, tokens - 1).fill_(100.0f);  // only the last key's value changes
    auto after = kernels::attention(q, k, changed, 2, true);
    EXPECT_TRUE(at::equal(before.narrow(1, 0, tokens - 1), after.narrow(1, 0, tokens - 1)))
        << tokens << " tokens";
    EXPECT_FALSE(at::equal(before.narrow(1, tokens - 1, 1), after.narrow(1, tokens - 1, 1)))
        << tokens << " tokens";
  }
}

// Large activations put many scores more than 87 below their row's maximum, where the kernel's
// exp stops following the true one (both are then under FLT_MIN), and others near it.
TEST(Attention, ScoresFarApartStillMatchTheReference) {
  auto q = randomTensor({2, 50, 16}, 11).mul_(6.0f);
  auto k = randomTensor({2, 50, 16}, 12).mul_(6.0f);
  auto v = randomTensor({2, 50, 16}, 13);
  for (bool causal : {false, true}) {
    auto expected = kernels::attentionAten(q, k, v, 2, causal);
    auto got = kernels::attention(q, k, v, 2, causal);
    EXPECT_TRUE(at::allclose(got, expected, 1e-5, 1e-5))
        << "causal=" << causal << " max diff " << at::sub(got, expected).abs().max().item<float>();
  }
}

// Softmax rows sum to one, so values that are all the same come back unchanged.
TEST(Attention, ConstantValuesComeBackUnchanged) {
  auto q = randomTensor({3, 37, 12}, 14);
  auto k = randomTensor({3, 37, 12}, 15);
  auto v = at::full({3, 37, 12}, 0.75f);
  for (bool causal : {false, true}) {
    auto got = kernels::attention(q, k, v, 3, causal);
    EXPECT_LT(at::sub(got, v).abs().max().item<float>(), 1e-6f) << "causal=" << causal;
  }
}

TEST(Attention, AutogradAndStridedInputsTakeTheAtenPath) {
  auto q = randomTensor({2, 5, 8}, 7).requires_grad_(true);
  auto k = randomTensor({2, 5, 8}, 8);
  auto v = randomTensor({2, 5, 8}, 9);
  auto out = kernels::attention(q, k, v, 2, true);
  ASSERT_TRUE(out.requires_grad());
  out.sum().backward();
  EXPECT_GT(q.grad().abs().sum().item<float>(), 0.0f);

  auto strided = randomTensor({5, 2, 8}, 10).transpose(0, 1);  // (2, 5, 8), not contiguous
  auto plain = strided.contiguous();
  EXPECT_TRUE(at::allclose(kernels::attention(strided, k, v, 2, false),
                           kernels::attention(plain, k, v, 2, false), 1e-5, 1e-5));
  EXPECT_THROW(kernels::attention(plain, k, v, 3, false), c10::Error);  // 8 not divisible by 3
}

}  // namespace
}  // namespace moeprof
