// fairseq's gating choices beside moeprof's defaults: the second expert by Gumbel sampling
// (seeded) or deterministically, batch-prioritized capacity slots against token order, and the
// run options that select them. The capacity rules are in gating_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "collector/routing_log.h"
#include "kernels/gating.h"
#include "kernels/static_dispatch.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

using kernels::GatingChoice;
using kernels::SecondExpert;
using kernels::SlotOrder;

at::Tensor randomLogits(int64_t tokens, int64_t experts, uint64_t seed, double scale = 1.0) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({tokens, experts}, gen, at::TensorOptions().dtype(at::kFloat)) * scale;
}

TEST(SecondExpertSampling, KeepsTheArgmaxFirstAndSamplesTheRestSeeded) {
  auto logits = randomLogits(400, 8, 3);
  auto all = kernels::topKGating(logits, 2);
  auto sampled = kernels::topKGating(logits, 2, {SecondExpert::Sampling, 42});
  // The first expert is the argmax either way, the second never repeats it.
  EXPECT_TRUE(at::equal(sampled.expertIds.select(1, 0), all.expertIds.select(1, 0)));
  EXPECT_FALSE(
      at::any(sampled.expertIds.select(1, 1).eq(sampled.expertIds.select(1, 0))).item<bool>());
  // Gate weights: the noise-free probabilities of the chosen experts, renormalized.
  auto chosen = sampled.probs.gather(1, sampled.expertIds);
  EXPECT_TRUE(at::allclose(sampled.gateWeights, chosen / chosen.sum(1, true)));
  // Noise changes some second experts (logits of unit scale: runners-up are close), not all.
  const int64_t changed =
      sampled.expertIds.select(1, 1).ne(all.expertIds.select(1, 1)).sum().item<int64_t>();
  EXPECT_GT(changed, 40);
  EXPECT_LT(changed, 400);
  // Seeded: the same seed repeats the choice, another seed differs.
  auto again = kernels::topKGating(logits, 2, {SecondExpert::Sampling, 42});
  EXPECT_TRUE(at::equal(again.expertIds, sampled.expertIds));
  auto other = kernels::topKGating(logits, 2, {SecondExpert::Sampling, 43});
  EXPECT_FALSE(at::equal(other.expertIds, sampled.expertIds));
}

TEST(SecondExpertSampling, ClearRunnersUpAndTopOneAreUnchanged) {
  // A runner-up 30 logits ahead of the rest: Gumbel noise (a few units) cannot pass it.
  auto logits = at::zeros({50, 6});
  logits.select(1, 2).fill_(60);
  logits.select(1, 4).fill_(30);
  auto sampled = kernels::topKGating(logits, 2, {SecondExpert::Sampling, 7});
  EXPECT_TRUE(at::all(sampled.expertIds.select(1, 0).eq(2)).item<bool>());
  EXPECT_TRUE(at::all(sampled.expertIds.select(1, 1).eq(4)).item<bool>());
  auto noisy = randomLogits(64, 8, 5);
  EXPECT_TRUE(at::equal(kernels::topKGating(noisy, 1, {SecondExpert::Sampling, 7}).expertIds,
                        kernels::topKGating(noisy, 1).expertIds));
}

// Reference: slots handed out choice by choice, tokens in the given order, each expert's slots
// first come first served.
std::vector<std::vector<bool>> referenceKept(const kernels::TopKGating& gating, int64_t capacity,
                                             bool prioritized) {
  const int64_t tokens = gating.expertIds.size(0), k = gating.expertIds.size(1);
  std::vector<int64_t> order(tokens);
  std::iota(order.begin(), order.end(), 0);
  if (prioritized) {
    auto top = std::get<0>(gating.probs.max(1));
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return top[a].item<float>() > top[b].item<float>();
    });
  }
  std::vector<int64_t> used(gating.probs.size(1), 0);
  std::vector<std::vector<bool>> kept(tokens, std::vector<bool>(k));
  for (int64_t j = 0; j < k; ++j) {
    for (int64_t t : order) kept[t][j] = used[gating.expertIds[t][j].item<int64_t>()]++ < capacity;
  }
  return kept;
}

TEST(BatchPrioritizedRouting, SurestTokensKeepTheirSlots) {
  // One expert slot: in token order token 0 (p = 0.60) keeps it; batch-prioritized, token 1
  // (p = 0.90) does.
  auto logits = at::tensor({0.4f, 0.0f, 2.2f, 0.0f}).view({2, 2});
  auto gating = kernels::topKGating(logits, 1);
  auto byToken = kernels::buildStaticRouting(gating, 1);
  auto byPriority = kernels::buildStaticRouting(gating, 1, SlotOrder::BatchPrioritized);
  EXPECT_TRUE(byToken.kept[0][0].item<bool>());
  EXPECT_FALSE(byToken.kept[1][0].item<bool>());
  EXPECT_FALSE(byPriority.kept[0][0].item<bool>());
  EXPECT_TRUE(byPriority.kept[1][0].item<bool>());
  EXPECT_FLOAT_EQ(byPriority.combineWeights[1][0][0].item<float>(),
                  gating.probs[1][0].item<float>());
  EXPECT_EQ(byPriority.droppedTokens, 1);
}

TEST(BatchPrioritizedRouting, MatchesTheReferenceAndDropsAsManyAsTokenOrder) {
  for (int64_t capacity : {1, 3, 6}) {
    auto gating = kernels::topKGating(randomLogits(60, 8, 11, 2.0), 2);
    for (bool prioritized : {false, true}) {
      auto routing = kernels::buildStaticRouting(
          gating, capacity, prioritized ? SlotOrder::BatchPrioritized : SlotOrder::Token);
      auto expected = referenceKept(gating, capacity, prioritized);
      for (int64_t t = 0; t < 60; ++t) {
        for (int64_t j = 0; j < 2; ++j) {
          ASSERT_EQ(routing.kept[t][j].item<bool>(), expected[t][j])
              << "capacity " << capacity << " prioritized " << prioritized << " token " << t;
        }
      }
    }
    // Slot order decides which assignments drop, not how many: each expert keeps min(C, wanted)
    // of the first choices, then as many second choices as there is room left.
    EXPECT_EQ(kernels::buildStaticRouting(gating, capacity).droppedAssignments,
              kernels::buildStaticRouting(gating, capacity, SlotOrder::BatchPrioritized)
                  .droppedAssignments);
  }
}

class GatingChoicesCommandTest : public testing::TempDirTest {
 protected:
  nlohmann::json config(const std::string& run) {
    std::ifstream in(path(run) + "/run.json");
    return nlohmann::json::parse(in)["config"];
  }
};

TEST_F(GatingChoicesCommandTest, RunOptionsChooseFairseqsPoliciesAndRecordThem) {
  const std::string run =
      "run --preset mt-tiny --gating static --repeats 1 --warmup 0 "
      "--threads 1 --out ";
  ASSERT_EQ(testing::runMoeprof(run + path("all")).exitCode, 0);
  EXPECT_EQ(config("all")["second_expert"], "all");
  EXPECT_EQ(config("all")["slot_order"], "token");
  for (const char* name : {"sampled", "again"}) {
    auto sampled = testing::runMoeprof(run + path(name) +
                                       " --second-expert sampling --slot-order batch-prioritized");
    ASSERT_EQ(sampled.exitCode, 0) << sampled.output;
  }
  EXPECT_EQ(config("sampled")["second_expert"], "sampling");
  EXPECT_EQ(config("sampled")["slot_order"], "batch-prioritized");
  auto all = collector::readRoutingLog(path("all") + "/routing.bin");
  auto sampled = collector::readRoutingLog(path("sampled") + "/routing.bin");
  auto again = collector::readRoutingLog(path("again") + "/routing.bin");
  // Seeded by --seed: the same run routes the same way.
  EXPECT_EQ(sampled.records, again.records);
  // The encoder's first layer sees the same input either way: same first experts, and some
  // second experts differ.
  ASSERT_EQ(all.records[0].moeLayer, 0u);
  size_t differ = 0;
  for (size_t i = 0; i < all.records[0].experts.size(); i += 2) {
    const uint16_t mask = static_cast<uint16_t>(~collector::kDroppedFlag);
    EXPECT_EQ(all.records[0].experts[i] & mask, sampled.records[0].experts[i] & mask) << i;
    differ += (all.records[0].experts[i + 1] & mask) != (sampled.records[0].experts[i + 1] & mask);
  }
  EXPECT_GT(differ, 0u);
  struct Case {
    std::string options, mentions;
  };
  for (const Case& bad : std::vector<Case>{{"--second-expert random", "'random'"},
                                           {"--slot-order priority", "'priority'"},
                                           {"--second-expert sampling --top-k 1", "top-k"}}) {
    auto result = testing::runMoeprof(run + path("bad") + " " + bad.options);
    EXPECT_EQ(result.exitCode, 2) << bad.options << ": " << result.output;
    EXPECT_NE(result.output.find(bad.mentions), std::string::npos) << result.output;
    EXPECT_FALSE(std::filesystem::exists(path("bad"))) << bad.options;
  }
}

// routing.bin keeps the router's gate weights from before dropping (collector/ROUTING_LOG.md):
// a token that lost one of its two experts still stores two weights summing to 1, while the
// combine gives the kept expert the whole weight.
TEST_F(GatingChoicesCommandTest, StaticRoutingLogStoresGateWeightsFromBeforeDropping) {
  auto result = testing::runMoeprof(
      "run --preset mt-tiny --gating static --capacity-factor 0.1 --repeats 1 --warmup 0 "
      "--threads 1 --out " +
      path("drops"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  auto log = collector::readRoutingLog(path("drops") + "/routing.bin");
  size_t halfDropped = 0;
  for (const auto& record : log.records) {
    for (size_t t = 0; t < record.numTokens; ++t) {
      const bool first = record.experts[2 * t] & collector::kDroppedFlag;
      const bool second = record.experts[2 * t + 1] & collector::kDroppedFlag;
      if (first == second) continue;
      ++halfDropped;
      EXPECT_NEAR(record.gateWeights[2 * t] + record.gateWeights[2 * t + 1], 1.0, 1e-2);
    }
  }
  EXPECT_GT(halfDropped, 0u);
}

}  // namespace
}  // namespace moeprof
