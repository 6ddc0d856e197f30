// Google Benchmark: expert cache accesses per second for each eviction policy at 4, 8 and 16
// slots, replaying a synthetic skewed trace (64 experts, Zipf-like popularity, batches of 8
// tokens routed top-2), batch by batch as `moeprof simulate` does.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "analysis/cache_simulation.h"
#include "analysis/expert_cache.h"

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

const AccessTrace& sharedTrace() {
  static const AccessTrace trace = makeTrace();
  return trace;
}

void BM_ExpertCache(benchmark::State& state, const std::string& policy) {
  const AccessTrace& trace = sharedTrace();
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

BENCHMARK_CAPTURE(BM_ExpertCache, lifo, std::string("lifo"))->Arg(4)->Arg(8)->Arg(16);
BENCHMARK_CAPTURE(BM_ExpertCache, lru, std::string("lru"))->Arg(4)->Arg(8)->Arg(16);
BENCHMARK_CAPTURE(BM_ExpertCache, lfu, std::string("lfu"))->Arg(4)->Arg(8)->Arg(16);
BENCHMARK_CAPTURE(BM_ExpertCache, fifo, std::string("fifo"))->Arg(4)->Arg(8)->Arg(16);
BENCHMARK_CAPTURE(BM_ExpertCache, belady, std::string("belady"))->Arg(4)->Arg(8)->Arg(16);

BENCHMARK_MAIN();
