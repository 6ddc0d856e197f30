// The attention kernel against the ATen reference: plain, causal, causal with a KV-cache past,
// one decoding query; and the ATen fallback for autograd and for strided inputs.
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
  for (const Case& c : std::vector<Case>{{2, 7, 7, 12, 3, false},
                                         {2, 7, 7, 12, 3, true},
                                         {3, 4, 9, 16, 4, true},      // KV cache: 5 past keys
                                         {3, 1, 9, 16, 2, true},      // one decoding step
                                         {1, 5, 11, 8, 1, false}}) {  // cross-attention shape
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
  auto q = randomTensor({1, 4, 8}, 4);
  auto k = randomTensor({1, 4, 8}, 5);
  auto v = randomTensor({1, 4, 8}, 6);
  auto before = kernels::attention(q, k, v, 2, true);
  auto changed = v.clone();
  changed.select(1, 3).fill_(100.0f);  // only the last key's value changes
  auto after = kernels::attention(q, k, changed, 2, true);
  EXPECT_TRUE(at::equal(before.narrow(1, 0, 3), after.narrow(1, 0, 3)));
  EXPECT_FALSE(at::equal(before.narrow(1, 3, 1), after.narrow(1, 3, 1)));
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
