// Expert parallelism: the launcher environment, placements from a routing history, the
// all-to-all MoE layers (ranks as threads of this process, joined through a real TCPStore or
// FileStore and Gloo on 127.0.0.1) against a single-rank reference, and `moeprof run --ranks 2`
// end to end.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "analysis/routing_loads.h"
#include "collector/routing_log.h"
#include "collector/run_manifest.h"
#include "kernels/gating.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "workloads/model/models.h"
#include "workloads/model/presets.h"
#include "workloads/model/transformer.h"
#include "workloads/parallel/expert_parallel.h"
#include "workloads/parallel/expert_parallel_moe.h"
#include "workloads/parallel/expert_parallel_run.h"
#include "workloads/parallel/expert_placement.h"
#include "workloads/parallel/rank_environment.h"
#include "workloads/run/routing_recorder.h"

namespace moeprof {
namespace {

using testing::inputErrorMessage;
using testing::runMoeprof;
using testing::TempDirTest;
using namespace workloads;

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// Runs perRank(group) on `world` threads, each a rank of one group; rethrows the first failure.
// The ranks meet in a TCPStore on a free port, or in a FileStore at `storeFile` where given.
void runRanks(int world, const std::function<void(ExpertParallelGroup&)>& perRank,
              const std::string& storeFile = "") {
  const int port = freePort();
  std::vector<std::exception_ptr> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        Rendezvous rendezvous{r,
                              world,
                              "127.0.0.1",
                              static_cast<uint16_t>(port),
                              std::chrono::milliseconds(20000),
                              storeFile};
        auto group = ExpertParallelGroup::join(rendezvous);
        perRank(*group);
        group->barrier();  // nobody leaves while another rank still talks to it
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

// The TCP sockets this process listens on that accept more than loopback connections, as
// "address:port" in /proc/net/tcp{,6} hex form: its open socket inodes matched against the
// kernel's tables.
std::vector<std::string> nonLoopbackListeners() {
  std::set<std::string> inodes;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    auto target = std::filesystem::read_symlink(fd.path(), error).string();
    if (!error && target.rfind("socket:[", 0) == 0) {
      inodes.insert(target.substr(8, target.size() - 9));
    }
  }
  constexpr const char* kLoopback[] = {"0100007F", "00000000000000000000000001000000",
                                       "0000000000000000FFFF00000100007F"};
  std::vector<std::string> found;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      if (state != "0A" || !inodes.count(inode)) continue;  // 0A: LISTEN
      const std::string address = local.substr(0, local.find(':'));
      if (std::find(std::begin(kLoopback), std::end(kLoopback), address) == std::end(kLoopback)) {
        found.push_back(local);
      }
    }
  }
  return found;
}

EnvironmentLookup fakeEnvironment(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const char* name) -> const char* {
    auto it = values.find(name);
    return it == values.end() ? nullptr : it->second.c_str();
  };
}

// ---- launcher environment ------------------------------------------------------------------

TEST(RankEnvironmentTest, ReadsTorchrunOpenMpiAndSlurmVariablesInThatOrder) {
  EXPECT_FALSE(rendezvousFromEnvironment(fakeEnvironment({})).has_value());
  auto torchrun = rendezvousFromEnvironment(fakeEnvironment({{"RANK", "1"},
                                                             {"WORLD_SIZE", "4"},
                                                             {"MASTER_ADDR", "node7"},
                                                             {"MASTER_PORT", "1234"},
                                                             {"SLURM_PROCID", "3"},
                                                             {"SLURM_NTASKS", "8"}}));
  ASSERT_TRUE(torchrun.has_value());
  EXPECT_EQ(torchrun->rank, 1);
  EXPECT_EQ(torchrun->worldSize, 4);
  EXPECT_EQ(torchrun->masterAddr, "node7");
  EXPECT_EQ(torchrun->masterPort, 1234);
  auto mpi = rendezvousFromEnvironment(
      fakeEnvironment({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "3"}}));
  ASSERT_TRUE(mpi.has_value());
  EXPECT_EQ(mpi->rank, 2);
  EXPECT_EQ(mpi->worldSize, 3);
  EXPECT_EQ(mpi->masterAddr, "127.0.0.1");  // the loopback default
  EXPECT_EQ(mpi->masterPort, 29500);
  auto slurm =
      rendezvousFromEnvironment(fakeEnvironment({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}));
  ASSERT_TRUE(slurm.has_value());
  EXPECT_EQ(slurm->worldSize, 2);
  EXPECT_TRUE(slurm->storeFile.empty());
  auto local = rendezvousFromEnvironment(fakeEnvironment(
      {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MOEPROF_RENDEZVOUS_FILE", "/tmp/d/store"}}));
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(local->storeFile, "/tmp/d/store");
  EXPECT_EQ(localWorldSize(fakeEnvironment({{"LOCAL_WORLD_SIZE", "2"}})), 2);
  EXPECT_EQ(localWorldSize(fakeEnvironment({{"SLURM_NTASKS_PER_NODE", "2(x3)"}})), 1);
}

TEST(RankEnvironmentTest, MalformedVariablesAreRejectedByName) {
  auto message = inputErrorMessage([] {
    rendezvousFromEnvironment(fakeEnvironment({{"RANK", "2"}, {"WORLD_SIZE", "2"}}));
  });
  EXPECT_NE(message.find("RANK='2'"), std::string::npos) << message;
  EXPECT_NE(message.find("0..1"), std::string::npos) << message;
  message = inputErrorMessage([] {
    rendezvousFromEnvironment(
        fakeEnvironment({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "http"}}));
  });
  EXPECT_NE(message.find("MASTER_PORT='http'"), std::string::npos) << message;
  message = inputErrorMessage([] { rendezvousFromEnvironment(fakeEnvironment({{"RANK", "0"}})); });
  EXPECT_NE(message.find("WORLD_SIZE"), std::string::npos) << message;
}

TEST(ExpertParallelRunTest, RankFileNamesKeepTheExtension) {
  EXPECT_EQ(rankFileName("trace.sqlite", 0, true), "trace.sqlite");
  EXPECT_EQ(rankFileName("trace.sqlite", 2, true), "trace.rank2.sqlite");
  EXPECT_EQ(rankFileName("routing.bin", 0, false), "routing.rank0.bin");
}

// ---- placements from history -----------------------------------------------------------------

// A routing log for lm-tiny (8 experts, top-2, 2 MoE layers) where layer l sends both choices
// of every token to experts skewed towards low ids (layer 0) or high ids (layer 1).
void writeSkewedHistory(const std::filesystem::path& path, const ModelConfig& model) {
  collector::RoutingLogWriter writer(path, RoutingRecorder::headerFor(model));
  for (uint32_t batch = 0; batch < 3; ++batch) {
    for (uint32_t layer = 0; layer < 2; ++layer) {
      collector::RoutingRecord record{batch, layer, 0, 6, {}, {}};
      const uint16_t pairs[6][2] = {{0, 1}, {0, 2}, {0, 1}, {1, 3}, {2, 4}, {5, 6}};
      for (const auto& pair : pairs) {
        for (uint16_t e : pair) {
          record.experts.push_back(layer == 0 ? e : static_cast<uint16_t>(7 - e));
          record.gateWeights.push_back(0.5f);
        }
      }
      writer.append(record);
    }
  }
  writer.flush();
}

class PlacementPlanTest : public TempDirTest {};

TEST_F(PlacementPlanTest, GreedyAndAnticorrUseTheExistingPoliciesOnEachLayersHistory) {
  ModelConfig model = findPreset("lm-tiny");
  auto history = dir_ / "routing.bin";
  writeSkewedHistory(history, model);
  auto loads = analysis::readRoutingLoads(history);
  auto greedy = planPlacements(parseLivePlacement("greedy"), model, 2, dir_);  // the run directory
  ASSERT_EQ(greedy.size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    auto expected = analysis::greedyPlacement(analysis::meanLoad(loads.layers[l].tokens), 2);
    EXPECT_EQ(greedy[l].expertsOnDevices(), expected.expertsOnDevices());
  }
  // Expert 0 (layer 0) is the heaviest and goes to rank 0; the greedy split is not round-robin.
  EXPECT_EQ(greedy[0].devicesOf(0), std::vector<int>{0});
  EXPECT_NE(greedy[0].expertsOnDevices(), analysis::roundRobinPlacement(8, 2).expertsOnDevices());
  auto anticorr = planPlacements(parseLivePlacement("anticorr"), model, 2, history);
  auto expected =
      analysis::antiCorrelationPlacement(analysis::meanLoad(loads.layers[1].tokens),
                                         analysis::loadCorrelation(loads.layers[1].tokens), 2);
  EXPECT_EQ(anticorr[1].expertsOnDevices(), expected.expertsOnDevices());
  auto roundRobin = planPlacements(parseLivePlacement("roundrobin"), model, 4, "");
  EXPECT_EQ(roundRobin[0].expertsOnDevices()[1], (std::vector<int>{1, 5}));
}

TEST_F(PlacementPlanTest, BadRanksMissingOrForeignHistoryAreInputErrors) {
  ModelConfig model = findPreset("lm-tiny");
  auto message =
      inputErrorMessage([&] { planPlacements(parseLivePlacement("roundrobin"), model, 3, ""); });
  EXPECT_NE(message.find("--ranks 3"), std::string::npos) << message;
  EXPECT_NE(message.find("divisors of 8"), std::string::npos) << message;
  message = inputErrorMessage([&] { planPlacements(parseLivePlacement("greedy"), model, 2, ""); });
  EXPECT_NE(message.find("--placement-history"), std::string::npos) << message;
  message =
      inputErrorMessage([&] { planPlacements(parseLivePlacement("greedy"), model, 2, dir_); });
  EXPECT_NE(message.find("no routing log"), std::string::npos) << message;
  auto foreign = dir_ / "mt.bin";
  writeSkewedHistory(foreign, model);
  ModelConfig mt = findPreset("mt-tiny");  // 8 experts too, but 4 MoE layers
  message =
      inputErrorMessage([&] { planPlacements(parseLivePlacement("greedy"), mt, 2, foreign); });
  EXPECT_NE(message.find("another model"), std::string::npos) << message;
  EXPECT_NE(message.find("'lm-tiny'"), std::string::npos)
      << "names the recorded model: " << message;
  message = inputErrorMessage([] { parseLivePlacement("best"); });
  EXPECT_NE(message.find("roundrobin, greedy, anticorr"), std::string::npos) << message;
  EXPECT_EQ(parseLivePlacement("eplb:2").extraReplicas, 2);
  message = inputErrorMessage([&] { planPlacements(parseLivePlacement("eplb"), model, 2, ""); });
  EXPECT_NE(message.find("--placement-history"), std::string::npos) << message;
}

// ---- the MoE layer across ranks ------------------------------------------------------------

constexpr int64_t kModel = 16, kFfn = 32, kExperts = 8, kTopK = 2, kTokens = 24;

MoeLayerWeights testLayer() {
  WeightFactory factory(7, at::kCPU);
  MoeLayerWeights layer;
  layer.topK = kTopK;
  layer.router = factory.normal({kModel, kExperts}) * 50.0;
  layer.experts = factory.experts(kExperts, kModel, kFfn);
  layer.experts.b1.normal_(0, 0.1);  // biases matter: a padding or misrouted row would show
  layer.experts.b2.normal_(0, 0.1);
  return layer;
}

at::Tensor testInput() {
  at::manual_seed(3);
  return at::randn({kTokens, kModel});
}

// Tokens the router sends to each rank's experts, from the single-rank routing.
std::vector<int64_t> expectedRowsPerRank(const MoeLayerWeights& layer, const at::Tensor& x,
                                         const analysis::Placement& placement) {
  auto gating = kernels::topKGating(at::matmul(x, layer.router), kTopK);
  auto ids = gating.expertIds.reshape({-1});
  std::vector<int64_t> rows(placement.numDevices(), 0);
  for (int64_t i = 0; i < ids.size(0); ++i) rows[placement.devicesOf(ids[i].item<int>())[0]] += 1;
  return rows;
}

struct RankResult {
  at::Tensor out;
  MoeCounters counters;
};

// Every rank runs the layer on its contiguous share of x with only its experts.
std::vector<RankResult> runParallelLayer(const MoeLayerWeights& layer, const at::Tensor& x,
                                         const analysis::Placement& placement, GatingMode gating,
                                         double capacityFactor) {
  const int world = placement.numDevices();
  std::vector<RankResult> results(world);
  runRanks(world, [&](ExpertParallelGroup& group) {
    const int r = group.rank();
    ExpertParallelism parallel(group, {ExpertSharding::fromPlacement(placement)});
    MoeLayerWeights local = layer;
    keepLocalExperts({&local}, parallel, r);
    EXPECT_EQ(local.experts.numExperts(),
              static_cast<int64_t>(placement.expertsOnDevices()[r].size()));
    ForwardContext context;
    context.gating = gating;
    context.capacityFactor = capacityFactor;
    context.parallel = &parallel;
    const int64_t share = x.size(0) / world;
    results[r].out = moeForward(local, x.narrow(0, r * share, share), context);
    results[r].counters = context.counters;
  });
  return results;
}

at::Tensor singleRank(const MoeLayerWeights& layer, const at::Tensor& x, GatingMode gating,
                      double capacityFactor, MoeCounters* counters = nullptr) {
  ForwardContext context;
  context.gating = gating;
  context.capacityFactor = capacityFactor;
  auto out = moeForward(layer, x, context);
  if (counters) *counters = context.counters;
  return out;
}

std::vector<analysis::Placement> testPlacements() {
  std::vector<double> skewed = {9, 1, 7, 3, 8, 2, 6, 4};
  std::vector<std::vector<double>> correlation(8, std::vector<double>(8, 0.0));
  for (int e = 0; e < 8; ++e) correlation[e][e] = 1.0;
  correlation[0][4] = correlation[4][0] = 0.9;  // keep 0 and 4 apart
  return {analysis::roundRobinPlacement(8, 2), analysis::greedyPlacement(skewed, 2),
          analysis::antiCorrelationPlacement(skewed, correlation, 2),
          analysis::roundRobinPlacement(8, 4)};
}

TEST(ExpertParallelLayerTest, DynamicGatingOnRanksEqualsOneRankForEveryPlacement) {
  auto layer = testLayer();
  auto x = testInput();
  auto reference = singleRank(layer, x, GatingMode::Dynamic, 1.0);
  for (const auto& placement : testPlacements()) {
    SCOPED_TRACE("ranks " + std::to_string(placement.numDevices()));
    auto results = runParallelLayer(layer, x, placement, GatingMode::Dynamic, 1.0);
    auto expectedRows = expectedRowsPerRank(layer, x, placement);
    const int64_t share = kTokens / placement.numDevices();
    for (int r = 0; r < placement.numDevices(); ++r) {
      EXPECT_TRUE(at::allclose(results[r].out, reference.narrow(0, r * share, share), 1e-5, 1e-6))
          << "rank " << r;
      // Each rank's experts got exactly the tokens routed to them, from every rank.
      EXPECT_EQ(results[r].counters.expertRowsReceived, expectedRows[r]) << "rank " << r;
      EXPECT_EQ(results[r].counters.allToAllCalls, 3);  // sizes, tokens, outputs
      EXPECT_GT(results[r].counters.allToAllBytesSent, 0);
    }
  }
}

// Static gating's capacity follows the tokens on the device (fairseq eval: C = ceil(CF x S)),
// so a rank holding S/N tokens has capacity CF x S/N, not the single device's CF x S. With
// CF = 1 no expert can overflow on either side (k = 2 choices are distinct experts), so nothing
// drops and both must compute the same outputs, padding notwithstanding.
// EPLB-style replicas: a replicated expert's tokens are split between the ranks holding it, and
// the outputs still equal one rank's. Each sender splits its n rows of an expert into shares of
// floor(n / R) or ceil(n / R), which bounds what every rank receives.
TEST(ExpertParallelLayerTest, ReplicatedExpertsSplitTheirTokensAndComputeWhatOneRankDoes) {
  auto layer = testLayer();
  auto x = testInput();
  auto reference = singleRank(layer, x, GatingMode::Dynamic, 1.0);
  const std::vector<double> skewed = {9, 1, 7, 3, 8, 2, 6, 4};
  for (auto [world, extra] : {std::pair{2, 2}, std::pair{4, 4}, std::pair{2, 3}}) {
    auto placement = analysis::replicatedPlacement(skewed, world, extra);
    SCOPED_TRACE("ranks " + std::to_string(world) + " extra " + std::to_string(extra));
    auto results = runParallelLayer(layer, x, placement, GatingMode::Dynamic, 1.0);
    const int64_t share = kTokens / world;
    std::vector<int64_t> low(world, 0), high(world, 0);
    for (int sender = 0; sender < world; ++sender) {
      auto gating =
          kernels::topKGating(at::matmul(x.narrow(0, sender * share, share), layer.router), kTopK);
      auto ids = gating.expertIds.reshape({-1});
      std::vector<int64_t> rows(kExperts, 0);
      for (int64_t i = 0; i < ids.size(0); ++i) ++rows[ids[i].item<int64_t>()];
      for (int e = 0; e < kExperts; ++e) {
        const auto& holders = placement.devicesOf(e);
        const auto replicas = static_cast<int64_t>(holders.size());
        for (int r : holders) {
          low[r] += rows[e] / replicas;
          high[r] += (rows[e] + replicas - 1) / replicas;
        }
      }
    }
    int64_t received = 0;
    for (int r = 0; r < world; ++r) {
      EXPECT_TRUE(at::allclose(results[r].out, reference.narrow(0, r * share, share), 1e-5, 1e-6))
          << "rank " << r;
      EXPECT_GE(results[r].counters.expertRowsReceived, low[r]) << "rank " << r;
      EXPECT_LE(results[r].counters.expertRowsReceived, high[r]) << "rank " << r;
      received += results[r].counters.expertRowsReceived;
    }
    EXPECT_EQ(received, kTokens * kTopK);  // every choice ran exactly once
  }
}

TEST(ExpertParallelLayerTest, StaticGatingOnRanksEqualsOneRankWhenNothingDrops) {
  auto layer = testLayer();
  auto x = testInput();
  MoeCounters single;
  auto reference = singleRank(layer, x, GatingMode::Static, 1.0, &single);
  ASSERT_EQ(single.droppedAssignments, 0);
  for (const auto& placement : testPlacements()) {
    const int world = placement.numDevices();
    auto results = runParallelLayer(layer, x, placement, GatingMode::Static, 1.0);
    const int64_t share = kTokens / world;
    for (int r = 0; r < world; ++r) {
      EXPECT_TRUE(at::allclose(results[r].out, reference.narrow(0, r * share, share), 1e-5, 1e-6))
          << "rank " << r << " of " << world;
      EXPECT_EQ(results[r].counters.droppedAssignments, 0);
      // Fixed-size all-to-all: E/N experts x C slots from each of the N ranks.
      EXPECT_EQ(results[r].counters.expertRowsReceived, kExperts * share);
      EXPECT_EQ(results[r].counters.allToAllCalls, 2);  // buffers out, outputs back
    }
  }
}

// Small capacity: the ranks drop what a single device holding the same tokens would drop.
TEST(ExpertParallelLayerTest, StaticGatingDropsLikeOneRankWithTheSameTokensPerDevice) {
  auto layer = testLayer();
  auto x = testInput();
  const double cf = 0.1;
  auto results =
      runParallelLayer(layer, x, analysis::roundRobinPlacement(8, 2), GatingMode::Static, cf);
  const int64_t share = kTokens / 2;
  for (int r = 0; r < 2; ++r) {
    MoeCounters single;
    auto reference =
        singleRank(layer, x.narrow(0, r * share, share), GatingMode::Static, cf, &single);
    EXPECT_GT(single.droppedAssignments, 0);
    EXPECT_EQ(results[r].counters.droppedAssignments, single.droppedAssignments);
    EXPECT_TRUE(at::allclose(results[r].out, reference, 1e-5, 1e-6)) << "rank " << r;
  }
}

// The whole model: two ranks, each with half the batch and half the experts, give the logits
// of one rank running the whole batch with every expert.
TEST(ExpertParallelLayerTest, LmModelLogitsOnTwoRanksEqualOneRank) {
  ModelConfig config = findPreset("lm-tiny");
  at::manual_seed(5);
  auto tokens = at::randint(4, config.vocab, {4, 8}, at::TensorOptions().dtype(at::kLong));
  for (GatingMode gating : {GatingMode::Dynamic, GatingMode::Static}) {
    LmModel whole(config, 1, at::kCPU);
    ForwardContext context;
    context.gating = gating;
    context.capacityFactor = 2.0;  // no drops on either side
    auto reference = whole.forward(tokens, context);
    std::vector<at::Tensor> logits(2);
    auto placement = analysis::greedyPlacement({5, 1, 4, 2, 8, 3, 7, 6}, 2);
    runRanks(2, [&](ExpertParallelGroup& group) {
      LmModel model(config, 1, at::kCPU);
      std::vector<ExpertSharding> layers(model.moeLayers().size(),
                                         ExpertSharding::fromPlacement(placement));
      ExpertParallelism parallel(group, layers);
      keepLocalExperts(model.moeLayers(), parallel, group.rank());
      ForwardContext rankContext;
      rankContext.gating = gating;
      rankContext.capacityFactor = 2.0;
      rankContext.parallel = &parallel;
      logits[group.rank()] = model.forward(tokens.narrow(0, 2 * group.rank(), 2), rankContext);
    });
    EXPECT_TRUE(at::allclose(at::cat(logits, 0), reference, 1e-4, 1e-5))
        << gatingName(gating) << ": max difference "
        << (at::cat(logits, 0) - reference).abs().max().item<float>();
  }
}

class RendezvousTest : public TempDirTest {};

// A FileStore rendezvous listens on nothing but Gloo's loopback sockets; the TCPStore one (rank
// 0's store listens on every interface in LibTorch) shows that the check sees a listener.
TEST_F(RendezvousTest, RanksMeetingInAFileListenOnLoopbackOnly) {
  for (bool file : {true, false}) {
    std::vector<std::string> listeners;
    runRanks(
        2,
        [&](ExpertParallelGroup& group) {
          group.barrier();  // both ranks' sockets are open
          if (group.rank() == 0) listeners = nonLoopbackListeners();
          group.barrier();
        },
        file ? path("store") : "");
    if (file) {
      EXPECT_TRUE(listeners.empty()) << listeners.front();
    } else {
      EXPECT_FALSE(listeners.empty());
    }
  }
}

TEST_F(RendezvousTest, AFileRendezvousThatNobodyJoinsFailsFastNamingTheFile) {
  Rendezvous rendezvous{1, 2, "127.0.0.1", 29500, std::chrono::milliseconds(500), path("store")};
  auto start = std::chrono::steady_clock::now();
  auto message = inputErrorMessage([&] { ExpertParallelGroup::join(rendezvous); });
  EXPECT_NE(message.find("file " + path("store") + " (MOEPROF_RENDEZVOUS_FILE)"), std::string::npos)
      << message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(ExpertParallelGroupTest, UnreachableRendezvousFailsFastWithAnInputError) {
  const int port = freePort();  // nobody listens there
  Rendezvous rendezvous{1,
                        2,
                        "127.0.0.1",
                        static_cast<uint16_t>(port),
                        std::chrono::milliseconds(500),
                        /*storeFile=*/""};
  auto start = std::chrono::steady_clock::now();
  auto message = inputErrorMessage([&] { ExpertParallelGroup::join(rendezvous); });
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// ---- moeprof run --ranks, end to end --------------------------------------------------------

class ExpertParallelCliTest : public TempDirTest {
 protected:
  nlohmann::json metricsOf(const std::string& run) {
    auto manifest = collector::readManifest(path(run));
    EXPECT_EQ(manifest.status, collector::RunStatus::Complete);
    return manifest.metrics;
  }
};

constexpr const char* kTiny = "run --preset lm-tiny --repeats 2 --warmup 0 --threads 1 ";

TEST_F(ExpertParallelCliTest, TwoRanksWriteOneRunWithPerRankMetricsTracesAndTheWholeRouting) {
  auto single = runMoeprof(std::string(kTiny) + "--out " + path("one"));
  ASSERT_EQ(single.exitCode, 0) << single.output;
  // The ranks' rendezvous directory goes under TMPDIR, and is gone after the run.
  std::filesystem::create_directories(path("tmp"));
  setenv("TMPDIR", path("tmp").c_str(), 1);
  auto two = runMoeprof(std::string(kTiny) + "--ranks 2 --trace ops --out " + path("two"));
  unsetenv("TMPDIR");
  ASSERT_EQ(two.exitCode, 0) << two.output;
  EXPECT_NE(two.output.find("wrote"), std::string::npos) << two.output;  // rank 0 reports once
  EXPECT_TRUE(std::filesystem::is_empty(path("tmp")));

  auto metrics = metricsOf("two");
  ASSERT_EQ(metrics["ranks"].size(), 2u);
  const auto& summary = metrics["expert_parallel"];
  EXPECT_EQ(summary["ranks"], 2);
  EXPECT_EQ(summary["placement"], "roundrobin");
  double maxLoad = summary["placement_metrics"]["pooled_max_load"];
  EXPECT_GE(maxLoad, 0.5);
  EXPECT_LE(maxLoad, 1.0);
  EXPECT_GE(summary["placement_metrics"]["per_pass_max_load"].get<double>(), maxLoad - 1e-12);
  // Dynamic gating: every one of a unit's 2 layers x 16 tokens x 2 choices reaches some rank.
  const auto& rows = summary["phases"]["forward"]["expert_rows_received_per_rank_per_unit"];
  ASSERT_EQ(rows.size(), 2u);
  for (size_t unit = 0; unit < 2; ++unit) {
    EXPECT_EQ(rows[0][unit].get<int64_t>() + rows[1][unit].get<int64_t>(), 2 * 16 * 2);
  }
  for (const auto& rank : metrics["ranks"]) {
    EXPECT_GT(rank["forward"]["expert_parallel"]["all_to_all_bytes_sent"].get<int64_t>(), 0);
  }
  double throughput = metrics["forward"]["tokens_per_s"];
  EXPECT_NEAR(throughput,
              metrics["ranks"][0]["forward"]["tokens_per_s"].get<double>() +
                  metrics["ranks"][1]["forward"]["tokens_per_s"].get<double>(),
              1e-6 * throughput);

  EXPECT_TRUE(std::filesystem::exists(dir_ / "two" / "trace.sqlite"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "two" / "trace.rank1.sqlite"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "two" / "routing.rank0.bin"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "two" / "routing.rank1.bin"));
  // The merged log holds the whole batch, as the single-rank run of it does.
  auto one = collector::readRoutingLog(dir_ / "one" / "routing.bin");
  auto merged = collector::readRoutingLog(dir_ / "two" / "routing.bin");
  ASSERT_EQ(merged.records.size(), one.records.size());
  size_t same = 0, total = 0;
  for (size_t i = 0; i < one.records.size(); ++i) {
    ASSERT_EQ(merged.records[i].numTokens, one.records[i].numTokens);
    for (size_t j = 0; j < one.records[i].experts.size(); ++j, ++total) {
      same += merged.records[i].experts[j] == one.records[i].experts[j];
    }
  }
  EXPECT_GE(same, total * 95 / 100) << same << " of " << total << " choices agree";
}

TEST_F(ExpertParallelCliTest, GreedyFromARecordedHistoryAndStaticGatingRun) {
  ASSERT_EQ(runMoeprof(std::string(kTiny) + "--out " + path("history")).exitCode, 0);
  auto greedy = runMoeprof(std::string(kTiny) + "--ranks 2 --placement greedy " +
                           "--placement-history " + path("history") + " --out " + path("g"));
  ASSERT_EQ(greedy.exitCode, 0) << greedy.output;
  auto metrics = metricsOf("g");
  EXPECT_EQ(metrics["expert_parallel"]["placement"], "greedy");
  auto loads = analysis::readRoutingLoads(path("history") + "/routing.bin");
  auto expected = analysis::greedyPlacement(analysis::meanLoad(loads.layers[0].tokens), 2);
  EXPECT_EQ(metrics["expert_parallel"]["placement_metrics"]["layers"][0]["experts_of_rank"],
            nlohmann::json(expected.expertsOnDevices()));
  // EPLB: one extra replica per rank of the heaviest experts, which split their tokens.
  auto eplb = runMoeprof(std::string(kTiny) + "--ranks 2 --placement eplb --placement-history " +
                         path("history") + " --out " + path("eplb"));
  ASSERT_EQ(eplb.exitCode, 0) << eplb.output;
  auto replicated = metricsOf("eplb")["expert_parallel"];
  auto expectedReplicas =
      analysis::replicatedPlacement(analysis::meanLoad(loads.layers[0].tokens), 2, 2);
  EXPECT_EQ(replicated["placement_metrics"]["layers"][0]["experts_of_rank"],
            nlohmann::json(expectedReplicas.expertsOnDevices()));
  const auto& rows = replicated["phases"]["forward"]["expert_rows_received_per_rank_per_unit"];
  for (size_t unit = 0; unit < 2; ++unit) {  // 2 layers x 16 tokens x 2 choices, each run once
    EXPECT_EQ(rows[0][unit].get<int64_t>() + rows[1][unit].get<int64_t>(), 2 * 16 * 2);
  }
  auto staticRun =
      runMoeprof(std::string(kTiny) + "--ranks 2 --gating static --out " + path("static"));
  ASSERT_EQ(staticRun.exitCode, 0) << staticRun.output;
  EXPECT_EQ(metricsOf("static")["ranks"].size(), 2u);
}

TEST_F(ExpertParallelCliTest, BadRanksPlacementsAndHistoriesExitTwoWritingNothing) {
  writeSkewedHistory(dir_ / "lm.bin", findPreset("lm-tiny"));
  const std::pair<std::string, std::string> cases[] = {
      {"--ranks 3", "--ranks 3"},
      {"--ranks 0", "--ranks 0"},
      {"--ranks 2 --batch 3", "--batch 3"},
      {"--ranks 2 --placement greedy", "--placement-history"},
      {"--ranks 2 --placement replicate", "roundrobin, greedy, anticorr, eplb"},
      {"--ranks 2 --placement eplb", "--placement-history"},
      {"--ranks 2 --gating static --placement eplb --placement-history " + path("lm.bin"),
       "--gating dynamic"},
      {"--ranks 2 --buffering lru --prefetch oracle", "recording pass"},
      {"--ranks 2 --rendezvous-timeout 0", "--rendezvous-timeout"},
  };
  auto check = [&](const std::string& command, const std::string& expected) {
    auto result = runMoeprof(command + " --out " + path("bad"));
    EXPECT_EQ(result.exitCode, 2) << command << "\n" << result.output;
    EXPECT_NE(result.output.find(expected), std::string::npos) << command << "\n" << result.output;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "bad")) << command;
  };
  for (const auto& [arguments, expected] : cases) check(std::string(kTiny) + arguments, expected);
  // A history of lm-tiny (8 experts x 2 MoE layers) for mt-tiny (8 experts x 4 MoE layers).
  check("run --preset mt-tiny --batch 4 --ranks 2 --placement anticorr --placement-history " +
            path("lm.bin"),
        "another model");
}

TEST_F(ExpertParallelCliTest, UnreachableRendezvousUnderTorchrunVariablesExitsTwo) {
  const std::string port = std::to_string(freePort());
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "2", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", port.c_str(), 1);
  auto result = runMoeprof(std::string(kTiny) + "--rendezvous-timeout 1 --out " + path("lonely"));
  for (const char* name : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) unsetenv(name);
  EXPECT_EQ(result.exitCode, 2) << result.output;
  EXPECT_NE(result.output.find("rendezvous at 127.0.0.1:" + port), std::string::npos)
      << result.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "lonely" / "run.json"));
}

}  // namespace
}  // namespace moeprof
