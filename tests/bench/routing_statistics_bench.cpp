// Google Benchmark: the routing statistics pass (`moeprof characterize`) and the synthetic Zipf
// generator on a log shaped like an mt-cpu run (128 experts, top-2; 6 encoder MoE layers of
// 48 x 64 tokens per batch, 6 decoder MoE layers of 48 tokens per step, 16 steps, 4 batches).
// Throughput is token-expert assignments per second.
#include <benchmark/benchmark.h>

#include "analysis/routing_statistics.h"
#include "analysis/zipf_routing.h"

namespace {

using namespace moeprof;

collector::RoutingLog mtShapedLog() {
  collector::RoutingLog shape;
  shape.header.model = "mt-shaped";
  shape.header.numExperts = 128;
  shape.header.topK = 2;
  for (uint32_t l = 0; l < 12; ++l) {
    shape.header.layers.push_back(
        {l < 6 ? collector::LayerStack::Encoder : collector::LayerStack::Decoder, 4 * (l % 6) + 3});
  }
  auto add = [&](uint32_t batch, uint32_t layer, uint32_t step, uint32_t tokens) {
    collector::RoutingRecord r;
    r.batch = batch;
    r.moeLayer = layer;
    r.step = step;
    r.numTokens = tokens;
    r.experts.assign(size_t(tokens) * 2, 0);
    r.gateWeights.assign(r.experts.size(), 0.5f);
    shape.records.push_back(std::move(r));
  };
  for (uint32_t batch = 0; batch < 4; ++batch) {
    for (uint32_t l = 0; l < 6; ++l) add(batch, l, 0, 48 * 64);
    for (uint32_t step = 0; step < 16; ++step) {
      for (uint32_t l = 6; l < 12; ++l) add(batch, l, step, 48);
    }
  }
  return analysis::zipfRoutingLike(shape, 1.0, 1);
}

int64_t assignments(const collector::RoutingLog& log) {
  int64_t n = 0;
  for (const auto& r : log.records) n += static_cast<int64_t>(r.experts.size());
  return n;
}

void BM_RoutingStatistics(benchmark::State& state) {
  const collector::RoutingLog log = mtShapedLog();
  for (auto _ : state) benchmark::DoNotOptimize(analysis::routingStatistics(log));
  state.SetItemsProcessed(state.iterations() * assignments(log));
}
BENCHMARK(BM_RoutingStatistics)->Unit(benchmark::kMillisecond);

void BM_ZipfRouting(benchmark::State& state) {
  const collector::RoutingLog shape = mtShapedLog();
  const double s = static_cast<double>(state.range(0)) / 10.0;
  for (auto _ : state) benchmark::DoNotOptimize(analysis::zipfRoutingLike(shape, s, 7));
  state.SetItemsProcessed(state.iterations() * assignments(shape));
}
BENCHMARK(BM_ZipfRouting)->Arg(8)->Arg(12)->Arg(30)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
