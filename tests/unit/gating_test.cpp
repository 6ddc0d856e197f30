// Top-k gating, static and dynamic dispatch against naive references and against each other.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "kernels/dynamic_dispatch.h"
#include "kernels/static_dispatch.h"
#include "workloads/model/moe_layer.h"
#include "workloads/model/transformer.h"

namespace moeprof {
namespace {

using kernels::CapacityMode;
using workloads::ForwardContext;
using workloads::GatingMode;
using workloads::MoeLayerWeights;

at::Tensor randomInput(int64_t tokens, int64_t dim, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({tokens, dim}, gen, at::TensorOptions().dtype(at::kFloat));
}

MoeLayerWeights randomLayer(int64_t dim, int64_t experts, int64_t topK, int64_t ffn = 8) {
  workloads::WeightFactory factory(7, at::kCPU);
  // Router weights larger than the 0.02 init so routing is far from uniform and ties are rare.
  return {0, topK, factory.normal({dim, experts}) * 50.0, factory.experts(experts, dim, ffn)};
}

TEST(TopKGating, MatchesNaiveSortOfSoftmax) {
  auto logits = randomInput(37, 9, 1);
  for (int64_t k : {1, 2, 3}) {
    auto gating = kernels::topKGating(logits, k);
    auto probs = at::softmax(logits, 1);
    for (int64_t s = 0; s < logits.size(0); ++s) {
      std::vector<int64_t> order(9);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return probs[s][a].item<float>() > probs[s][b].item<float>();
      });
      double sum = 0;
      for (int64_t j = 0; j < k; ++j) sum += probs[s][order[j]].item<float>();
      for (int64_t j = 0; j < k; ++j) {
        ASSERT_EQ(gating.expertIds[s][j].item<int64_t>(), order[j]) << "token " << s;
        double expected = probs[s][order[j]].item<float>() / (k == 1 ? 1.0 : sum);
        EXPECT_NEAR(gating.gateWeights[s][j].item<float>(), expected, 1e-6);
      }
    }
  }
}

TEST(ExpertCapacity, EvalAndTrainRules) {
  EXPECT_EQ(kernels::expertCapacity(CapacityMode::Eval, 0.05, 2048, 512, 2), 103);  // ceil(102.4)
  EXPECT_EQ(kernels::expertCapacity(CapacityMode::Eval, 1.0, 768, 128, 2), 768);
  EXPECT_EQ(kernels::expertCapacity(CapacityMode::Train, 1.0, 768, 128, 2), 12);  // 1*2*768/128
  EXPECT_EQ(kernels::expertCapacity(CapacityMode::Train, 1.25, 100, 8, 2), 32);   // ceil(31.25)
}

at::Tensor runLayer(const MoeLayerWeights& layer, const at::Tensor& x, GatingMode gating,
                    double capacityFactor, workloads::MoeCounters* counters = nullptr) {
  ForwardContext context;
  context.gating = gating;
  context.capacityFactor = capacityFactor;
  auto out = workloads::moeForward(layer, x, context);
  if (counters) *counters = context.counters;
  return out;
}

TEST(MoeLayer, StaticEqualsDynamicWhenNothingDrops) {
  auto layer = randomLayer(16, 8, 2);
  auto x = randomInput(40, 16, 2);
  workloads::MoeCounters counters;
  // CF 1.0 in eval mode gives every expert a slot per token: nothing can drop.
  auto staticOut = runLayer(layer, x, GatingMode::Static, 1.0, &counters);
  auto dynamicOut = runLayer(layer, x, GatingMode::Dynamic, 1.0);
  EXPECT_EQ(counters.droppedAssignments, 0);
  EXPECT_TRUE(at::allclose(staticOut, dynamicOut, 1e-4, 1e-5))
      << "max diff " << (staticOut - dynamicOut).abs().max().item<float>();
}

// The documented drop rule, computed naively: first choices of all tokens in token order, then
// second choices; an assignment is kept while its expert has fewer than C assignments.
std::vector<std::vector<bool>> naiveKept(const at::Tensor& ids, int64_t experts, int64_t capacity) {
  std::vector<int64_t> used(experts, 0);
  std::vector<std::vector<bool>> kept(ids.size(0), std::vector<bool>(ids.size(1)));
  for (int64_t j = 0; j < ids.size(1); ++j) {
    for (int64_t s = 0; s < ids.size(0); ++s) {
      int64_t e = ids[s][j].item<int64_t>();
      kept[s][j] = used[e]++ < capacity;
    }
  }
  return kept;
}

TEST(StaticDispatch, DropsExactlyTheDocumentedAssignments) {
  auto layer = randomLayer(16, 4, 2);
  auto x = randomInput(30, 16, 3);
  const int64_t capacity = 5;  // 4 experts x 5 slots for 60 assignments: many drops
  auto gating = kernels::topKGating(at::matmul(x, layer.router), 2);
  auto routing = kernels::buildStaticRouting(gating, capacity);
  auto expected = naiveKept(gating.expertIds, 4, capacity);
  int64_t dropped = 0, droppedTokens = 0;
  for (int64_t s = 0; s < 30; ++s) {
    for (int64_t j = 0; j < 2; ++j) {
      EXPECT_EQ(routing.kept[s][j].item<bool>(), expected[s][j])
          << "token " << s << " choice " << j;
      dropped += !expected[s][j];
    }
    droppedTokens += !expected[s][0] && !expected[s][1];
  }
  EXPECT_GT(dropped, 0);
  EXPECT_EQ(routing.droppedAssignments, dropped);
  EXPECT_EQ(routing.droppedTokens, droppedTokens);
}

TEST(StaticDispatch, DroppedTokensGetNoExpertContribution) {
  auto layer = randomLayer(16, 4, 2);
  auto x = randomInput(30, 16, 4);
  // Eval capacity ceil(0.1 * 30) = 3 slots per expert for 60 assignments.
  auto out = runLayer(layer, x, GatingMode::Static, 0.1);
  auto gating = kernels::topKGating(at::matmul(x, layer.router), 2);
  auto kept = naiveKept(gating.expertIds, 4, 3);
  int64_t fullyDropped = 0;
  for (int64_t s = 0; s < 30; ++s) {
    at::Tensor expected = at::zeros({16});
    for (int64_t j = 0; j < 2; ++j) {
      if (!kept[s][j]) continue;
      int64_t e = gating.expertIds[s][j].item<int64_t>();
      // Renormalized over kept choices: one kept choice carries the whole weight.
      double weight = kept[s][0] && kept[s][1] ? gating.gateWeights[s][j].item<float>() : 1.0;
      expected += weight * kernels::expertFfn(layer.experts, e, x[s].unsqueeze(0)).squeeze(0);
    }
    fullyDropped += !kept[s][0] && !kept[s][1];
    EXPECT_TRUE(at::allclose(out[s], expected, 1e-4, 1e-5)) << "token " << s;
  }
  EXPECT_GT(fullyDropped, 0) << "the case should exercise tokens that lose every expert";
}

TEST(DynamicDispatch, GroupsRowsByExpertWithExactCounts) {
  auto gating = kernels::topKGating(randomInput(50, 6, 5), 2);
  auto routing = kernels::buildDynamicRouting(gating);
  ASSERT_EQ(routing.tokensPerExpert.size(), 6u);
  EXPECT_EQ(std::accumulate(routing.tokensPerExpert.begin(), routing.tokensPerExpert.end(), 0L),
            100);
  int64_t row = 0;
  for (int64_t e = 0; e < 6; ++e) {
    for (int64_t i = 0; i < routing.tokensPerExpert[e]; ++i, ++row) {
      int64_t token = routing.tokenOfRow[row].item<int64_t>();
      bool routed = gating.expertIds[token][0].item<int64_t>() == e ||
                    gating.expertIds[token][1].item<int64_t>() == e;
      EXPECT_TRUE(routed) << "row " << row << " of expert " << e << " holds token " << token;
    }
  }
}

// Waste factor E x C / (k x S), measured from the counts the layer reports.
double measuredWaste(int64_t experts, double capacityFactor, int64_t tokens) {
  auto layer = randomLayer(4, experts, 2, 4);
  workloads::MoeCounters counters;
  runLayer(layer, randomInput(tokens, 4, 6), GatingMode::Static, capacityFactor, &counters);
  return static_cast<double>(counters.expertRowsComputed) / counters.expertRowsNeeded;
}

TEST(WasteFactor, PaperConfigurations) {
  // LM: E 512, CF 0.05, top-2; S = 1280 makes C = 64 exactly: 512 * 64 / (2 * 1280) = 12.8.
  EXPECT_DOUBLE_EQ(measuredWaste(512, 0.05, 1280), 12.8);
  // MT: E 128, CF 1.0, top-2: 128 * S / (2 * S) = 64.
  EXPECT_DOUBLE_EQ(measuredWaste(128, 1.0, 96), 64.0);
  workloads::MoeCounters counters;
  runLayer(randomLayer(4, 16, 2, 4), randomInput(64, 4, 7), GatingMode::Dynamic, 1.0, &counters);
  EXPECT_EQ(counters.expertRowsComputed, counters.expertRowsNeeded);
}

}  // namespace
}  // namespace moeprof
