#include "analysis/placement.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "analysis/placement_simulation.h"
#include "analysis/routing_loads.h"
#include "collector/errors.h"
#include "collector/routing_log.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"

namespace moeprof::analysis {
namespace {

using moeprof::testing::inputErrorMessage;

// Device of each expert, for placements without replicas.
std::vector<int> deviceOfEach(const Placement& placement) {
  std::vector<int> devices;
  for (int e = 0; e < placement.numExperts(); ++e) {
    EXPECT_EQ(placement.devicesOf(e).size(), 1u) << "expert " << e;
    devices.push_back(placement.devicesOf(e).front());
  }
  return devices;
}

TEST(Placement, RoundRobinPutsExpertOnDeviceModuloCount) {
  Placement placement = roundRobinPlacement(8, 4);
  EXPECT_EQ(placement.numExperts(), 8);
  EXPECT_EQ(placement.numDevices(), 4);
  EXPECT_EQ(deviceOfEach(placement), (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3}));
  EXPECT_EQ(placement.expertsOnDevices(),
            (std::vector<std::vector<int>>{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
}

TEST(Placement, GreedyMatchesHandComputedAssignment) {
  // Loads [5, 9, 2, 7, 3, 8] on 3 devices, 2 experts each. Heaviest first:
  //   e1 (9) -> d0 (all empty, lowest id)        loads 9 0 0
  //   e5 (8) -> d1                                loads 9 8 0
  //   e3 (7) -> d2                                loads 9 8 7
  //   e0 (5) -> d2 (least loaded: 7)              loads 9 8 12, d2 full
  //   e4 (3) -> d1 (8 < 9)                        loads 9 11 12, d1 full
  //   e2 (2) -> d0 (only device with room)        loads 11 11 12
  Placement placement = greedyPlacement({5, 9, 2, 7, 3, 8}, 3);
  EXPECT_EQ(deviceOfEach(placement), (std::vector<int>{2, 0, 0, 2, 1, 1}));
  EXPECT_EQ(placement.deviceTokens({5, 9, 2, 7, 3, 8}), (std::vector<double>{11, 11, 12}));
}

TEST(Placement, GreedyBreaksTiesByLowerExpertThenLowerDevice) {
  // All loads equal: experts in id order, each on the lowest-id least-loaded device.
  EXPECT_EQ(deviceOfEach(greedyPlacement({1, 1, 1, 1}, 2)), (std::vector<int>{0, 1, 0, 1}));
  // No load at all: every device stays at load 0, so the lowest id with room wins until full;
  // each device still ends with exactly E/D experts.
  EXPECT_EQ(deviceOfEach(greedyPlacement({0, 0, 0, 0}, 2)), (std::vector<int>{0, 0, 1, 1}));
}

TEST(Placement, AntiCorrelationSeparatesCorrelatedExperts) {
  // Loads [4, 3, 2, 1] (total 10) on 2 devices; experts 1 and 2 correlate 0.9, others 0.
  // Score = device share + 0.5 * summed correlation with experts already there.
  //   e0: d0 0, d1 0 -> tie, equal load, lower id: d0          loads 4 0
  //   e1: d0 0.4 + 0 = 0.4, d1 0 -> d1                         loads 4 3
  //   e2: d0 0.4 + 0 = 0.4, d1 0.3 + 0.5 * 0.9 = 0.75 -> d0    loads 6 3, d0 full
  //   e3: d1 (only room)
  // Plain greedy would put e2 beside e1 (d1 is lighter): {0, 1, 1, 0}.
  const std::vector<double> load = {4, 3, 2, 1};
  std::vector<std::vector<double>> correlation = {
      {1, 0, 0, 0}, {0, 1, 0.9, 0}, {0, 0.9, 1, 0}, {0, 0, 0, 1}};
  EXPECT_EQ(deviceOfEach(antiCorrelationPlacement(load, correlation, 2)),
            (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ(deviceOfEach(greedyPlacement(load, 2)), (std::vector<int>{0, 1, 1, 0}));
}

TEST(Placement, AntiCorrelationWithoutCorrelationEqualsGreedy) {
  const std::vector<double> load = {5, 9, 2, 7, 3, 8};
  std::vector<std::vector<double>> identity(6, std::vector<double>(6, 0.0));
  for (int i = 0; i < 6; ++i) identity[i][i] = 1;
  EXPECT_EQ(deviceOfEach(antiCorrelationPlacement(load, identity, 3)),
            deviceOfEach(greedyPlacement(load, 3)));
}

// The skewed load of the brief: two hot experts dominate (total 1450 tokens).
const std::vector<double> kSkewedLoad = {600, 560, 120, 120, 20, 10, 10, 10};

TEST(Placement, ReplicationLowersMaxLoadOfSkewedExperts) {
  const LoadTrace trace = {kSkewedLoad};
  // One expert per device: the hottest device carries expert 0 alone.
  LoadMetrics plain = loadMetrics(trace, greedyPlacement(kSkewedLoad, 8));
  EXPECT_DOUBLE_EQ(plain.pooledMaxLoadTokens, 600);
  EXPECT_DOUBLE_EQ(plain.pooledMaxLoad, 600.0 / 1450.0);
  EXPECT_DOUBLE_EQ(loadMetrics(trace, replicatedPlacement(kSkewedLoad, 8, 0)).pooledMaxLoadTokens,
                   600);

  // 2 extra replicas: expert 0 (600) -> 2 x 300, then expert 1 (560 > 300) -> 2 x 280.
  // 10 replicas, room ceil(10/8) = 2: 300 d0, 300 d1, 280 d2, 280 d3, 120 d4, 120 d5, 20 d6,
  // 10 d7, then e6 10 -> d7 (20, now full), e7 10 -> d6 (30). Max device load 300.
  Placement two = replicatedPlacement(kSkewedLoad, 8, 2);
  EXPECT_EQ(two.devicesOf(0), (std::vector<int>{0, 1}));
  EXPECT_EQ(two.devicesOf(1), (std::vector<int>{2, 3}));
  EXPECT_EQ(two.deviceTokens(kSkewedLoad),
            (std::vector<double>{300, 300, 280, 280, 120, 120, 30, 20}));
  EXPECT_DOUBLE_EQ(loadMetrics(trace, two).pooledMaxLoadTokens, 300);

  // 3 extra replicas: next heaviest per replica is expert 0 (300 > 280) -> 3 x 200.
  // Room ceil(11/8) = 2: e1 280 d0 d1, e0 200 d2 d3 d4, e2 d5, e3 d6, e4 d7, e5 -> d7 (30),
  // e6 -> d5 (130), e7 -> d6 (130). Max device load 280.
  Placement three = replicatedPlacement(kSkewedLoad, 8, 3);
  EXPECT_EQ(three.devicesOf(0), (std::vector<int>{2, 3, 4}));
  EXPECT_EQ(three.devicesOf(1), (std::vector<int>{0, 1}));
  LoadMetrics metrics = loadMetrics(trace, three);
  EXPECT_DOUBLE_EQ(metrics.pooledMaxLoadTokens, 280);
  EXPECT_DOUBLE_EQ(metrics.pooledMaxLoad, 280.0 / 1450.0);
}

TEST(Placement, ReplicasNeverShareADevice) {
  // 2 experts, 2 devices, 2 extras: both experts end up on both devices.
  Placement placement = replicatedPlacement({10, 1}, 2, 2);
  EXPECT_EQ(placement.devicesOf(0), (std::vector<int>{0, 1}));
  EXPECT_EQ(placement.devicesOf(1), (std::vector<int>{0, 1}));
  EXPECT_EQ(placement.deviceTokens({10, 1}), (std::vector<double>{5.5, 5.5}));
}

TEST(LoadMetrics, MaxLoadAndAvgMaxLoadOnHandMadeTrace) {
  // Round-robin on 2 devices: d0 holds experts 0 and 2, d1 holds 1 and 3.
  const LoadTrace trace = {
      {3, 1, 0, 0},  // d0 3, d1 1: worst share 3/4
      {0, 0, 1, 3},  // d0 1, d1 3: worst share 3/4
      {2, 2, 2, 2},  // d0 4, d1 4: worst share 1/2
      {0, 0, 0, 0},  // no tokens: left out of Avg Max Load
  };
  LoadMetrics metrics = loadMetrics(trace, roundRobinPlacement(4, 2));
  ASSERT_EQ(metrics.deviceTokens.size(), 4u);
  EXPECT_EQ(metrics.deviceTokens[0], (std::vector<double>{3, 1}));
  EXPECT_EQ(metrics.deviceTokens[1], (std::vector<double>{1, 3}));
  EXPECT_EQ(metrics.deviceTokens[3], (std::vector<double>{0, 0}));
  // Pooled over the trace both devices carry 8 of 16 tokens: perfectly balanced in sum...
  EXPECT_DOUBLE_EQ(metrics.pooledMaxLoad, 0.5);
  EXPECT_DOUBLE_EQ(metrics.pooledMaxLoadTokens, 8);
  // ...while per pass the busiest device peaks at 3/4 and averages (0.75 + 0.75 + 0.5) / 3.
  EXPECT_DOUBLE_EQ(metrics.perPassMaxLoad, 0.75);
  EXPECT_DOUBLE_EQ(metrics.perPassAvgMaxLoad, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(metrics.peakBatchDeviceTokens, 4);
}

TEST(LoadMetrics, ReplicatedExpertSplitsTokensEvenly) {
  Placement placement(2, {{0, 1}, {1}});
  EXPECT_EQ(placement.deviceTokens({4, 2}), (std::vector<double>{2, 4}));
  EXPECT_EQ(placement.expertsOnDevices(), (std::vector<std::vector<int>>{{0}, {0, 1}}));
}

TEST(LoadMetrics, MeanLoadAndSplit) {
  const LoadTrace trace = {{1, 0}, {3, 2}, {5, 4}, {7, 6}, {9, 8}};
  EXPECT_EQ(meanLoad(trace), (std::vector<double>{5, 4}));
  TraceSplit split = splitTrace(trace);
  EXPECT_EQ(split.history, (LoadTrace{{1, 0}, {3, 2}}));
  EXPECT_EQ(split.evaluation, (LoadTrace{{5, 4}, {7, 6}, {9, 8}}));
}

TEST(LoadMetrics, LoadCorrelationIsPearsonOfTokenCounts) {
  // e1 = 2 * e0 (correlation 1), e2 constant (0), e3 = 4 - e0 (correlation -1).
  const LoadTrace trace = {{1, 2, 5, 3}, {3, 6, 5, 1}, {2, 4, 5, 2}};
  auto correlation = loadCorrelation(trace);
  EXPECT_NEAR(correlation[0][1], 1, 1e-12);
  EXPECT_DOUBLE_EQ(correlation[0][2], 0);
  EXPECT_NEAR(correlation[0][3], -1, 1e-12);
  EXPECT_NEAR(correlation[3][1], -1, 1e-12);
  EXPECT_DOUBLE_EQ(correlation[2][2], 1);
}

TEST(LoadMetrics, ActivationCorrelationFromCoActivationCounts) {
  // 4 batches: a active in 0,1; b in 0,1; c in 2,3; d in all.
  // phi(a,b) = (4*2 - 2*2) / sqrt(2*2*2*2) = 1; phi(a,c) = (0 - 4) / 4 = -1; d is constant: 0.
  const std::vector<std::vector<int64_t>> co = {
      {2, 2, 0, 2}, {2, 2, 0, 2}, {0, 0, 2, 2}, {2, 2, 2, 4}};
  auto correlation = activationCorrelation(co, 4);
  EXPECT_DOUBLE_EQ(correlation[0][1], 1);
  EXPECT_DOUBLE_EQ(correlation[0][2], -1);
  EXPECT_DOUBLE_EQ(correlation[1][3], 0);
  EXPECT_DOUBLE_EQ(correlation[3][3], 1);
}

// History traces whose token totals tie two devices in whole tokens. With the loads as means
// (totals / passes) the two device sums differ in the last bit when the pass count is not a
// power of two (20/3 + 17/3 != 19/3 + 18/3 in doubles), and a strict < on them used to decide
// the tie instead of the documented lowest device id.
struct TiedHistory {
  int passes;
  std::vector<int> totals;  // per expert, descending
};
const TiedHistory kTiedHistories[] = {
    {3, {20, 19, 18, 17, 16, 15}},
    {5, {20, 19, 17, 16, 15, 14}},
    {7, {20, 17, 16, 13, 12, 11}},
};

// `passes` rows whose columns sum to the totals (the remainder spread over the first rows).
LoadTrace spreadOverPasses(const TiedHistory& history) {
  LoadTrace trace(history.passes, std::vector<double>(history.totals.size(), 0.0));
  for (size_t e = 0; e < history.totals.size(); ++e) {
    for (int p = 0; p < history.passes; ++p) {
      trace[p][e] = history.totals[e] / history.passes + (p < history.totals[e] % history.passes);
    }
  }
  return trace;
}

TEST(PlacementTies, EqualWholeTokenLoadsGoToTheLowestDeviceForHistoriesOf357Passes) {
  // On 2 devices, 3 experts each, heaviest first: e0 -> d0, e1 -> d1, e2 -> d1 (d1 is lighter),
  // e3 -> d0 (d0 is lighter); now d0 = e0 + e3 = d1 = e1 + e2 in whole tokens, so e4 takes the
  // lowest device id, d0, which is then full, and e5 goes to d1.
  const std::vector<int> expected = {0, 1, 1, 0, 0, 1};
  for (const TiedHistory& tied : kTiedHistories) {
    SCOPED_TRACE("history of " + std::to_string(tied.passes) + " passes");
    const LoadTrace history = spreadOverPasses(tied);
    ASSERT_EQ(totalLoad(history), std::vector<double>(tied.totals.begin(), tied.totals.end()));
    EXPECT_EQ(deviceOfEach(greedyPlacement(meanLoad(history), 2)), expected);
    EXPECT_EQ(deviceOfEach(greedyPlacement(totalLoad(history), 2)), expected);
    EXPECT_EQ(deviceOfEach(choosePlacement(parsePlacementSpec("greedy"), history, 2)), expected);
    // Without correlations anti-correlation is greedy, ties included.
    std::vector<std::vector<double>> none(6, std::vector<double>(6, 0.0));
    EXPECT_EQ(deviceOfEach(antiCorrelationPlacement(meanLoad(history), none, 2)), expected);
    // EPLB without extra replicas packs as greedy does (room ceil(6/2) = 3).
    EXPECT_EQ(deviceOfEach(replicatedPlacement(meanLoad(history), 2, 0)), expected);
    EXPECT_EQ(deviceOfEach(choosePlacement(parsePlacementSpec("eplb:0"), history, 2)), expected);
    // Max Load judged on the history itself: d0 and d1 differ by the last expert pair only.
    const double total = std::accumulate(tied.totals.begin(), tied.totals.end(), 0.0);
    const double d0 = tied.totals[0] + tied.totals[3] + tied.totals[4];
    EXPECT_DOUBLE_EQ(loadMetrics(history, choosePlacement(parsePlacementSpec("greedy"), history, 2))
                         .pooledMaxLoad,
                     std::max(d0, total - d0) / total);
  }
}

TEST(PlacementTies, ReplicaSharesThatTieInWholeTokensGoToTheLowerExpert) {
  // Expert 0 carries k x b tokens, expert 1 b: after k - 1 extra replicas expert 0's k replicas
  // carry b each, a tie with expert 1, so the k-th extra replica goes to the lower id, expert 0.
  // Through means, (k b / n) / k rounds below b / n for these (passes, k, b), and expert 1 used
  // to win.
  struct Case {
    int passes, k, b;
  };
  for (const Case& c : {Case{3, 5, 7}, Case{5, 3, 1}, Case{7, 3, 13}}) {
    SCOPED_TRACE("history of " + std::to_string(c.passes) + " passes");
    const LoadTrace history = spreadOverPasses({c.passes, {c.k * c.b, c.b, 0, 0}});
    const int devices = c.k + 1;
    Placement exact =
        choosePlacement(parsePlacementSpec("eplb:" + std::to_string(c.k)), history, devices);
    EXPECT_EQ(exact.devicesOf(0).size(), static_cast<size_t>(c.k + 1));
    EXPECT_EQ(exact.devicesOf(1).size(), 1u);
    Placement fromMeans = replicatedPlacement(meanLoad(history), devices, c.k);
    EXPECT_EQ(fromMeans.devicesOf(0), exact.devicesOf(0));
    EXPECT_EQ(fromMeans.devicesOf(1), exact.devicesOf(1));
  }
}

TEST(PlacementInput, BadValuesThrowInputErrorNamingThem) {
  std::string message = inputErrorMessage([] { roundRobinPlacement(6, 4); });
  EXPECT_NE(message.find("(6)"), std::string::npos) << message;
  EXPECT_NE(message.find("(4)"), std::string::npos) << message;
  message = inputErrorMessage([] { greedyPlacement({1, 2, 3}, 0); });
  EXPECT_NE(message.find("at least 1, got 0"), std::string::npos) << message;
  message = inputErrorMessage([] { greedyPlacement({1, 2, 3}, 2); });
  EXPECT_NE(message.find("(3)"), std::string::npos) << message;
  message = inputErrorMessage([] { greedyPlacement({1, -2}, 2); });
  EXPECT_NE(message.find("expert 1"), std::string::npos) << message;
  message = inputErrorMessage([] { antiCorrelationPlacement({1, 2}, {{1, 0}}, 2); });
  EXPECT_NE(message.find("1 rows"), std::string::npos) << message;
  message = inputErrorMessage([] { replicatedPlacement({1, 2}, 2, 3); });
  EXPECT_NE(message.find("0..2"), std::string::npos) << message;
  EXPECT_NE(message.find("got 3"), std::string::npos) << message;
  message = inputErrorMessage([] {
    loadMetrics(LoadTrace(1, std::vector<double>{1, 2, 3}), roundRobinPlacement(4, 2));
  });
  EXPECT_NE(message.find("3 experts; expected 4"), std::string::npos) << message;
  message = inputErrorMessage([] { roundRobinPlacement(4, 2).deviceTokens({1}); });
  EXPECT_NE(message.find("1 experts"), std::string::npos) << message;
  message = inputErrorMessage([] { Placement(2, {{0, 0}}); });
  EXPECT_NE(message.find("two replicas on device 0"), std::string::npos) << message;
  message = inputErrorMessage([] { Placement(2, {{2}}); });
  EXPECT_NE(message.find("device 2; devices are 0..1"), std::string::npos) << message;
  message = inputErrorMessage([] { splitTrace(LoadTrace(1, std::vector<double>{1})); });
  EXPECT_NE(message.find("got 1"), std::string::npos) << message;
  message = inputErrorMessage([] { meanLoad({}); });
  EXPECT_NE(message.find("no batches"), std::string::npos) << message;
}

class RoutingLoadsTest : public moeprof::testing::TempDirTest {
 protected:
  static collector::RoutingLogHeader header() {
    collector::RoutingLogHeader header;
    header.model = "mt-cpu";
    header.numExperts = 4;
    header.topK = 2;
    header.layers = {{collector::LayerStack::Encoder, 1}, {collector::LayerStack::Decoder, 1}};
    return header;
  }

  static collector::RoutingRecord record(uint32_t batch, uint32_t layer, uint32_t step,
                                         std::vector<uint16_t> experts) {
    collector::RoutingRecord record;
    record.batch = batch;
    record.moeLayer = layer;
    record.step = step;
    record.numTokens = static_cast<uint32_t>(experts.size() / 2);
    record.gateWeights.assign(experts.size(), 0.5f);
    record.experts = std::move(experts);
    return record;
  }
};

TEST_F(RoutingLoadsTest, RoundTripGivesExactCountsAndCoActivation) {
  {
    collector::RoutingLogWriter writer(dir_ / "routing.bin", header());
    // In execution order (a log out of order is rejected: routing_order_test.cpp).
    // Encoder batch 0: tokens (0,1) (0,2) (1 dropped,3) -> counts [2, 2, 1, 1].
    writer.append(record(0, 0, 0, {0, 1, 0, 2, 1 | collector::kDroppedFlag, 3}));
    writer.append(record(0, 1, 0, {3, 2}));  // decoder batch 0 step 0 -> [0, 0, 1, 1]
    writer.append(record(0, 1, 1, {3, 0}));  // step 1 -> [1, 0, 0, 1]
    writer.append(record(1, 0, 0, {2, 3}));  // encoder batch 1 -> [0, 0, 1, 1]
  }
  RoutingLoads loads = readRoutingLoads(dir_ / "routing.bin");
  EXPECT_EQ(loads.numExperts, 4u);
  EXPECT_EQ(loads.topK, 2u);
  ASSERT_EQ(loads.layers.size(), 2u);

  const LayerLoads& encoder = loads.layers[0];
  EXPECT_EQ(encoder.layer.stack, collector::LayerStack::Encoder);
  EXPECT_EQ(encoder.tokens, (LoadTrace{{2, 2, 1, 1}, {0, 0, 1, 1}}));
  // Batch 0 has all four active, batch 1 only experts 2 and 3.
  EXPECT_EQ(encoder.coActivation, (std::vector<std::vector<int64_t>>{
                                      {1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 2, 2}, {1, 1, 2, 2}}));

  const LayerLoads& decoder = loads.layers[1];
  using Row = std::pair<uint32_t, uint32_t>;
  EXPECT_EQ(decoder.rows, (std::vector<Row>{{0, 0}, {0, 1}}));
  EXPECT_EQ(decoder.tokens, (LoadTrace{{0, 0, 1, 1}, {1, 0, 0, 1}}));
  EXPECT_EQ(decoder.coActivation[3][3], 2);
  EXPECT_EQ(decoder.coActivation[0][3], 1);
  EXPECT_EQ(decoder.coActivation[0][2], 0);

  // The counts feed the placements directly.
  EXPECT_EQ(meanLoad(encoder.tokens), (std::vector<double>{1, 1, 1, 1}));
}

TEST_F(RoutingLoadsTest, RecordNamingAMissingLayerThrows) {
  collector::RoutingLog log;
  log.header = header();
  log.records.push_back(record(3, 5, 0, {0, 1}));
  std::string message = inputErrorMessage([&] { routingLoads(log); });
  EXPECT_NE(message.find("MoE layer 5"), std::string::npos) << message;
  EXPECT_NE(message.find("2 layers"), std::string::npos) << message;
}

}  // namespace
}  // namespace moeprof::analysis
