// The CPU side of the kernel case list (kernels/kernel_cases.h): every case, every CPU path.
// The grouped expert FFN's paths (as the layers call it, the CBLAS kernel forced, through a
// provider) against the ATen per-expert loop; gating, dynamic and static routing, dispatch and
// combine against plain loops that spell out the semantics the CUDA kernels implement (stable
// order within an expert, first choices before second ones, slot order, renormalized gates).
// tests/gpu/kernel_cases_gpu_test.cpp runs the same cases on a GPU against these CPU kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>
#include <set>

#include "tests/support/kernel_case_data.h"

namespace moeprof {
namespace {

using kernels::KernelCase;
using kernels::KernelPrimitive;
using testing::compareClose;
using testing::KernelCaseData;

class KernelCaseCpu : public ::testing::TestWithParam<KernelCase> {};

// Softmax in double and the k best by (probability descending, expert ascending).
void expectGatingMatchesLoop(const KernelCaseData& d, kernels::Tolerance tol) {
  const auto& c = d.spec;
  auto logits = d.logits.accessor<float, 2>();
  auto ids = d.gating.expertIds.accessor<int64_t, 2>();
  at::Tensor probs = at::empty({c.tokens, c.experts}, at::kFloat);
  at::Tensor weights = at::empty({c.tokens, c.topK}, at::kFloat);
  auto p = probs.accessor<float, 2>();
  auto w = weights.accessor<float, 2>();
  for (int64_t s = 0; s < c.tokens; ++s) {
    double max = -INFINITY, sum = 0;
    for (int64_t e = 0; e < c.experts; ++e) max = std::max<double>(max, logits[s][e]);
    for (int64_t e = 0; e < c.experts; ++e) sum += std::exp(logits[s][e] - max);
    for (int64_t e = 0; e < c.experts; ++e) {
      p[s][e] = static_cast<float>(std::exp(logits[s][e] - max) / sum);
    }
    std::vector<int64_t> order(c.experts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return p[s][a] > p[s][b]; });
    double total = 0;
    for (int64_t j = 0; j < c.topK; ++j) total += p[s][order[j]];
    for (int64_t j = 0; j < c.topK; ++j) {
      // at::topk promises no order for equal probabilities: a swap between equals is fine.
      EXPECT_TRUE(ids[s][j] == order[j] || p[s][ids[s][j]] == p[s][order[j]])
          << "token " << s << " choice " << j << ": expert " << ids[s][j] << ", loop " << order[j];
      w[s][j] = static_cast<float>(
          c.topK == 1 ? p[s][order[j]] : p[s][order[j]] / std::max<double>(total, FLT_EPSILON));
    }
  }
  EXPECT_EQ(compareClose(d.gating.probs, probs, tol), "");
  EXPECT_EQ(compareClose(d.gating.gateWeights, weights, tol), "");
}

// Counting sort by expert, stable in assignment order.
void expectDynamicRoutingMatchesLoop(const KernelCaseData& d) {
  const auto& c = d.spec;
  auto ids = d.gating.expertIds.accessor<int64_t, 2>();
  auto gates = d.gating.gateWeights.accessor<float, 2>();
  std::vector<int64_t> counts(c.experts, 0), tokenOfRow;
  std::vector<float> weightOfRow;
  for (int64_t e = 0; e < c.experts; ++e) {
    for (int64_t s = 0; s < c.tokens; ++s) {
      for (int64_t j = 0; j < c.topK; ++j) {
        if (ids[s][j] != e) continue;
        ++counts[e];
        tokenOfRow.push_back(s);
        weightOfRow.push_back(gates[s][j]);
      }
    }
  }
  EXPECT_EQ(d.dynamic.tokensPerExpert, counts);
  auto rows = d.dynamic.tokenOfRow.contiguous();
  EXPECT_EQ(std::vector<int64_t>(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel()),
            tokenOfRow);
  auto w = d.dynamic.weightOfRow.contiguous();
  EXPECT_EQ(std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel()), weightOfRow);
}

// Slots in choice-major, slot-order sequence; drops at capacity; gates renormalized over kept.
void expectStaticRoutingMatchesLoop(const KernelCaseData& d, kernels::Tolerance tol) {
  const auto& c = d.spec;
  auto ids = d.gating.expertIds.accessor<int64_t, 2>();
  auto probs = d.gating.probs.accessor<float, 2>();
  std::vector<int64_t> order(c.tokens);
  std::iota(order.begin(), order.end(), 0);
  if (c.batchPrioritized) {
    std::vector<float> top(c.tokens);
    for (int64_t s = 0; s < c.tokens; ++s) {
      top[s] = *std::max_element(&probs[s][0], &probs[s][0] + c.experts);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return top[a] > top[b]; });
  }
  std::vector<int64_t> taken(c.experts, 0);
  std::vector<int32_t> slotOf(c.tokens * c.topK, -1);
  for (int64_t j = 0; j < c.topK; ++j) {
    for (int64_t s : order) {
      const int64_t slot = taken[ids[s][j]]++;
      if (slot < c.capacity) slotOf[s * c.topK + j] = static_cast<int32_t>(slot);
    }
  }
  std::vector<float> gate(c.tokens * c.topK, 0.0f);
  int64_t droppedAssignments = 0, droppedTokens = 0;
  for (int64_t s = 0; s < c.tokens; ++s) {
    float sum = 0;
    int64_t kept = 0;
    for (int64_t j = 0; j < c.topK; ++j) {
      const bool keep = slotOf[s * c.topK + j] >= 0;
      gate[s * c.topK + j] = keep ? probs[s][ids[s][j]] : 0.0f;
      sum += gate[s * c.topK + j];
      kept += keep;
    }
    if (c.topK > 1) {
      for (int64_t j = 0; j < c.topK; ++j) gate[s * c.topK + j] /= std::max(sum, FLT_EPSILON);
    }
    droppedAssignments += c.topK - kept;
    droppedTokens += kept == 0;
  }
  auto compact = testing::compactStaticRouting(d);
  EXPECT_EQ(compact.slotOfAssignment, slotOf);
  EXPECT_EQ(compareClose(at::tensor(compact.gate), at::tensor(gate), tol), "");
  EXPECT_EQ(d.staticRouting.droppedAssignments, droppedAssignments);
  EXPECT_EQ(d.staticRouting.droppedTokens, droppedTokens);
}

TEST_P(KernelCaseCpu, CpuPathsAgree) {
  const KernelCase& c = GetParam();
  const auto tol = kernels::toleranceFor(c.dtype);
  KernelCaseData d = testing::makeKernelCaseData(c, 1234);
  ASSERT_NE(d.x.abs().sum().item<double>(), 0.0);  // never zeros
  const int64_t k = c.topK, dModel = c.dModel;
  switch (c.primitive) {
    case KernelPrimitive::TopKGating:
      expectGatingMatchesLoop(d, tol);
      break;
    case KernelPrimitive::DynamicRouting:
      expectDynamicRoutingMatchesLoop(d);
      break;
    case KernelPrimitive::DynamicDispatch: {
      auto got = kernels::dynamicDispatch(d.dynamic, d.x);
      auto rows = d.dynamic.tokenOfRow.accessor<int64_t, 1>();
      auto want = at::empty({c.tokens * k, dModel});
      for (int64_t r = 0; r < c.tokens * k; ++r) want[r].copy_(d.x[rows[r]]);
      EXPECT_EQ(compareClose(got, want, {0, 0}), "");
      break;
    }
    case KernelPrimitive::DynamicCombine: {
      auto got = kernels::dynamicCombine(d.dynamic, d.expertOut, c.tokens);
      auto rowOf = testing::rowOfAssignment(d);
      auto gates = d.gating.gateWeights.accessor<float, 2>();
      auto want = at::zeros({c.tokens, dModel});
      for (int64_t s = 0; s < c.tokens; ++s) {
        for (int64_t j = 0; j < k; ++j) {
          ASSERT_GE(rowOf[s * k + j], 0);
          want[s] += d.expertOut[rowOf[s * k + j]] * gates[s][j];
        }
      }
      EXPECT_EQ(compareClose(got, want, tol), "");
      break;
    }
    case KernelPrimitive::StaticRouting:
      expectStaticRoutingMatchesLoop(d, tol);
      break;
    case KernelPrimitive::StaticDispatch: {
      auto got = kernels::staticDispatch(d.staticRouting, d.x);
      auto compact = testing::compactStaticRouting(d);
      auto want = at::zeros({c.experts, c.capacity, dModel});
      for (int64_t e = 0; e < c.experts; ++e) {
        for (int64_t slot = 0; slot < c.capacity; ++slot) {
          const int32_t token = compact.tokenOfSlot[e * c.capacity + slot];
          if (token >= 0) want[e][slot].copy_(d.x[token]);
        }
      }
      EXPECT_EQ(compareClose(got, want, {0, 0}), "");
      break;
    }
    case KernelPrimitive::StaticCombine: {
      auto got = kernels::staticCombine(d.staticRouting, d.expertOut);
      auto compact = testing::compactStaticRouting(d);
      auto ids = d.gating.expertIds.accessor<int64_t, 2>();
      auto want = at::zeros({c.tokens, dModel});
      for (int64_t s = 0; s < c.tokens; ++s) {
        for (int64_t j = 0; j < k; ++j) {
          const int32_t slot = compact.slotOfAssignment[s * k + j];
          if (slot >= 0) want[s] += d.expertOut[ids[s][j]][slot] * compact.gate[s * k + j];
        }
      }
      EXPECT_EQ(compareClose(got, want, tol), "");
      break;
    }
    case KernelPrimitive::GroupedFfn: {
      const auto& counts = d.dynamic.tokensPerExpert;
      auto provider = [&](int64_t e) { return d.weights.expert(e); };
      auto want = kernels::groupedExpertFfnAten(provider, d.groupedX, counts);
      if (c.dtype != kernels::KernelDtype::Float32) {
        // The CPU path for the dtype is the ATen loop (the CBLAS kernel is float32 only).
        if (c.dtype == kernels::KernelDtype::Float16) {
          GTEST_SKIP() << "LibTorch 1.13 has no CPU addmm for float16; the GPU test checks the "
                          "fp16 kernel against the float32 reference";
        }
        const auto type = testing::atenDtype(c.dtype);
        kernels::ExpertWeights typed{d.weights.w1.to(type), d.weights.b1.to(type),
                                     d.weights.w2.to(type), d.weights.b2.to(type)};
        auto got = kernels::groupedExpertFfn(typed, d.groupedX.to(type), counts);
        EXPECT_EQ(got.scalar_type(), type);
        EXPECT_EQ(compareClose(got, want, tol), "") << "ATen loop in the case's dtype";
        break;
      }
      EXPECT_EQ(compareClose(kernels::groupedExpertFfn(d.weights, d.groupedX, counts), want, tol),
                "")
          << "as the layers call it";
      EXPECT_EQ(
          compareClose(kernels::groupedExpertFfnCblas(d.weights, d.groupedX, counts), want, tol),
          "")
          << "CBLAS kernel";
      EXPECT_EQ(compareClose(kernels::groupedExpertFfn(provider, d.groupedX, counts), want, tol),
                "")
          << "through a provider";
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, KernelCaseCpu, ::testing::ValuesIn(kernels::kernelCases()),
                         [](const ::testing::TestParamInfo<KernelCase>& info) {
                           return info.param.name();
                         });

TEST(KernelCases, NamesAreUniqueAndEveryPrimitiveHasPresetShapes) {
  auto cases = kernels::kernelCases();
  std::set<std::string> names;
  for (const auto& c : cases) EXPECT_TRUE(names.insert(c.name()).second) << c.name();
  for (const char* shape : {"lm-cpu prefill", "lm-cpu decode", "mt-cpu encoder", "mt-cpu decode"}) {
    EXPECT_EQ(
        std::count_if(cases.begin(), cases.end(),
                      [&](const KernelCase& c) { return c.shape == shape; }),
        8 + (std::string(shape) == "mt-cpu encoder" ? 3 : 0) +
            (std::string(shape) == "lm-cpu prefill" || std::string(shape) == "mt-cpu decode" ? 2
                                                                                             : 0))
        << shape;
  }
}

// The static cases reach the capacity limit: assignments, and on some shape whole tokens, drop.
TEST(KernelCases, StaticCasesDropAssignments) {
  int64_t droppedAssignments = 0, droppedTokens = 0;
  for (const auto& c : kernels::kernelCases()) {
    if (c.primitive != KernelPrimitive::StaticRouting) continue;
    auto d = testing::makeKernelCaseData(c, 1234);
    droppedAssignments += d.staticRouting.droppedAssignments;
    droppedTokens += d.staticRouting.droppedTokens;
  }
  EXPECT_GT(droppedAssignments, 0);
  EXPECT_GT(droppedTokens, 0);
}

}  // namespace
}  // namespace moeprof
