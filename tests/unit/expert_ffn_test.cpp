// The grouped expert FFN: the CBLAS kernel against the ATen reference, on counts with empty
// experts, through resident weights and through a provider, and the ATen fallback for autograd
// and for views the kernel cannot take.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "kernels/expert_ffn.h"
#include "workloads/model/transformer.h"

namespace moeprof {
namespace {

using kernels::ExpertView;
using kernels::ExpertWeights;

constexpr int64_t kDim = 12, kFfn = 20, kExperts = 6;

struct Case {
  ExpertWeights weights;
  at::Tensor x;
  std::vector<int64_t> counts;
};

Case makeCase(std::vector<int64_t> counts) {
  workloads::WeightFactory factory(5, at::kCPU);
  auto weights = factory.experts(kExperts, kDim, kFfn);
  weights.b1.normal_();  // non-zero biases, so a missing bias term shows
  weights.b2.normal_();
  int64_t rows = 0;
  for (int64_t c : counts) rows += c;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  return {weights, at::randn({rows, kDim}, gen, at::TensorOptions().dtype(at::kFloat)), counts};
}

at::Tensor reference(const Case& c) {
  return kernels::groupedExpertFfnAten([&](int64_t e) { return c.weights.expert(e); }, c.x,
                                       c.counts);
}

TEST(GroupedExpertFfn, CpuKernelMatchesTheAtenReference) {
  for (auto counts : std::vector<std::vector<int64_t>>{
           {3, 0, 5, 1, 0, 7}, {0, 0, 0, 0, 0, 9}, {1, 1, 1, 1, 1, 1}, {0, 0, 0, 0, 0, 0}}) {
    Case c = makeCase(counts);
    auto expected = reference(c);
    auto resident = kernels::groupedExpertFfn(c.weights, c.x, c.counts);
    auto provided =
        kernels::groupedExpertFfn([&](int64_t e) { return c.weights.expert(e); }, c.x, c.counts);
    ASSERT_EQ(resident.sizes(), expected.sizes());
    EXPECT_TRUE(at::allclose(resident, expected, 1e-5, 1e-5))
        << at::sub(resident, expected).abs().max();
    EXPECT_TRUE(at::equal(resident, provided));  // one kernel, whichever way the weights come
  }
}

TEST(GroupedExpertFfn, OnlyExpertsWithTokensAreAskedForInIdOrder) {
  Case c = makeCase({2, 0, 1, 0, 0, 3});
  std::vector<int64_t> asked;
  kernels::groupedExpertFfn(
      [&](int64_t e) {
        asked.push_back(e);
        return c.weights.expert(e);
      },
      c.x, c.counts);
  EXPECT_EQ(asked, (std::vector<int64_t>{0, 2, 5}));
}

TEST(GroupedExpertFfn, AutogradAndStridedViewsTakeTheAtenPath) {
  Case c = makeCase({2, 3, 0, 1, 0, 2});
  auto x = c.x.clone().requires_grad_(true);
  auto out = kernels::groupedExpertFfn(c.weights, x, c.counts);
  ASSERT_TRUE(out.requires_grad());
  out.sum().backward();
  EXPECT_TRUE(x.grad().defined());
  EXPECT_GT(x.grad().abs().sum().item<float>(), 0.0f);

  // w1 handed out as the transpose of a (ffn, d_model) tensor: not contiguous, same values.
  auto transposed = c.weights.w1.transpose(1, 2).contiguous();
  auto strided = kernels::groupedExpertFfn(
      [&](int64_t e) {
        ExpertView v = c.weights.expert(e);
        v.w1 = transposed[e].t();
        return v;
      },
      c.x, c.counts);
  EXPECT_TRUE(at::allclose(strided, reference(c), 1e-5, 1e-5));
}

TEST(GroupedExpertFfn, CountsThatDoNotAddUpAreRejected) {
  Case c = makeCase({2, 3, 0, 1, 0, 2});
  std::vector<int64_t> wrong = {2, 3, 0, 1, 0, 1};
  EXPECT_THROW(kernels::groupedExpertFfn(c.weights, c.x, wrong), c10::Error);
}

}  // namespace
}  // namespace moeprof
