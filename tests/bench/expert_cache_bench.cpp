// Google Benchmark: expert cache accesses per second for each eviction policy at 4, 8 and 16
// slots, batch by batch as `moeprof simulate` does, replaying a synthetic skewed trace (64
// experts, Zipf-like popularity, batches of 8 tokens routed top-2) and the real routing of the
// trained MT model's decoder (tests/fixtures/routing, its layers' traces one after another,
// repeated to about 2M accesses).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "analysis/cache_simulation.h"
#include "analysis/characterization.h"
#include "analysis/expert_cache.h"
#include "collector/routing_log.h"

namespace {

using moeprof::analysis::AccessTrace;
using moeprof::analysis::ExpertCache;
using moeprof::analysis::ExpertKey;

constexpr int kExperts = 64;
constexpr int kTokensPerBatch = 8;
constexpr int kTopK = 2;
constexpr int kBatches = 200000;  // about 2M accesses, far more than fits any cache level

AccessTrace makeTrace() {
  std::mt19937_64 random(42);
  std::vector<double> weights(kExperts);
  for (int e = 0; e < kExperts; ++e) weights[e] = 1.0 / std::pow(e + 1.0, 1.1);
  std::shuffle(weights.begin(), weights.end(), random);  // popular experts anywhere in id order
  std::discrete_distribution<int> pick(weights.begin(), weights.end());
  AccessTrace trace;
  std::vector<ExpertKey> batch;
  for (int b = 0; b < kBatches; ++b) {
    batch.clear();
    for (int t = 0; t < kTokensPerBatch; ++t) {
      int first = pick(random);
      int second = first;
      while (second == first) second = pick(random);
      batch.push_back(static_cast<ExpertKey>(first));
      batch.push_back(static_cast<ExpertKey>(second));
    }
    std::sort(batch.begin(), batch.end());
    batch.erase(std::unique(batch.begin(), batch.end()), batch.end());
    trace.keys.insert(trace.keys.end(), batch.begin(), batch.end());
    trace.batchStarts.push_back(trace.keys.size());
  }
  return trace;
}

AccessTrace realDecoderTrace() {
  AccessTrace layers;
  for (const char* lang : {"fr", "ja", "ast"}) {
    auto run = std::filesystem::path(MOEPROF_SOURCE_DIR) / "tests/fixtures/routing" /
               (std::string("mt-") + lang);
    auto log = moeprof::collector::onlyStack(
        moeprof::collector::readRoutingLog(moeprof::analysis::routingLogOfRun(run)),
        moeprof::collector::LayerStack::Decoder);
    for (const auto& layer :
         moeprof::analysis::buildAccessTraces(log, moeprof::analysis::CacheScope::Layer)) {
      for (uint64_t b = 0; b < layer.numBatches(); ++b) {
        layers.keys.insert(layers.keys.end(), layer.keys.begin() + layer.batchStarts[b],
                           layer.keys.begin() + layer.batchStarts[b + 1]);
        layers.batchStarts.push_back(layers.keys.size());
      }
    }
  }
  AccessTrace trace;
  while (trace.keys.size() < 2'000'000) {
    for (uint64_t b = 0; b < layers.numBatches(); ++b) {
      trace.keys.insert(trace.keys.end(), layers.keys.begin() + layers.batchStarts[b],
                        layers.keys.begin() + layers.batchStarts[b + 1]);
      trace.batchStarts.push_back(trace.keys.size());
    }
  }
  return trace;
}

const AccessTrace& sharedTrace(bool real) {
  static const AccessTrace synthetic = makeTrace();
  static const AccessTrace decoder = realDecoderTrace();
  return real ? decoder : synthetic;
}

void BM_ExpertCache(benchmark::State& state, const std::string& policy, bool real) {
  const AccessTrace& trace = sharedTrace(real);
  const auto slots = static_cast<uint32_t>(state.range(0));
  std::span<const ExpertKey> keys(trace.keys);
  uint64_t accesses = 0;
  uint64_t misses = 0;
  for (auto _ : state) {
    state.PauseTiming();  // Belady's next-use index is built once per replay, not per access
    ExpertCache cache(slots, moeprof::analysis::makePolicy(policy, keys));
    state.ResumeTiming();
    for (uint64_t b = 0; b < trace.numBatches(); ++b) {
      auto batch =
          keys.subspan(trace.batchStarts[b], trace.batchStarts[b + 1] - trace.batchStarts[b]);
      cache.beginBatch(batch);
      for (ExpertKey key : batch) benchmark::DoNotOptimize(cache.access(key));
    }
    accesses += cache.accesses();
    misses = cache.misses();
  }
  state.counters["accesses/s"] = benchmark::Counter(double(accesses), benchmark::Counter::kIsRate);
  state.counters["miss_rate"] = double(misses) / double(trace.keys.size());
}

}  // namespace

#define MOEPROF_CACHE_BENCHMARKS(policy)                                                           \
  BENCHMARK_CAPTURE(BM_ExpertCache, policy, std::string(#policy), false)->Arg(4)->Arg(8)->Arg(16); \
  BENCHMARK_CAPTURE(BM_ExpertCache, policy##_real_decoder, std::string(#policy), true)             \
      ->Arg(4)                                                                                     \
      ->Arg(8)                                                                                     \
      ->Arg(16)

MOEPROF_CACHE_BENCHMARKS(lifo);
MOEPROF_CACHE_BENCHMARKS(lru);
MOEPROF_CACHE_BENCHMARKS(lfu);
MOEPROF_CACHE_BENCHMARKS(fifo);
MOEPROF_CACHE_BENCHMARKS(belady);

BENCHMARK_MAIN();
