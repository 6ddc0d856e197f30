// Google Benchmark: the CPU kernels (CBLAS attention, grouped expert FFN) against their ATen
// references at the lm-cpu and mt-cpu shapes, and the dispatcher calls each makes (counted with
// a RecordFunction callback, the same hook the operator trace uses). Both sides of a case run in
// the same process on the same inputs, so the final table's ratios come from one run.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <benchmark/benchmark.h>

#include "kernels/attention.h"
#include "kernels/expert_ffn.h"
#include "tests/bench/bench_mode.h"
#include "workloads/model/transformer.h"

namespace {

using moeprof::kernels::ExpertWeights;

// A kernel case: a label and how to call the kernel (fast) or its ATen reference.
struct KernelCase {
  std::string label;
  std::function<at::Tensor(bool reference)> call;
};

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
}

KernelCase attentionCase(std::string label, int64_t batch, int64_t queries, int64_t keys,
                         int64_t dModel, int64_t heads, bool causal) {
  auto q = randn({batch, queries, dModel}, 1), k = randn({batch, keys, dModel}, 2),
       v = randn({batch, keys, dModel}, 3);
  return {std::move(label), [=](bool reference) {
            return reference ? moeprof::kernels::attentionAten(q, k, v, heads, causal)
                             : moeprof::kernels::attention(q, k, v, heads, causal);
          }};
}

// S tokens routed top-2 uniformly over E experts (what random weights give).
KernelCase expertCase(std::string label, int64_t experts, int64_t tokens, int64_t dModel,
                      int64_t ffn) {
  moeprof::workloads::WeightFactory factory(4, at::kCPU);
  auto weights = std::make_shared<ExpertWeights>(factory.experts(experts, dModel, ffn));
  std::vector<int64_t> counts(experts, 0);
  for (int64_t r = 0; r < tokens * 2; ++r) ++counts[(r * 7919) % experts];
  auto x = randn({tokens * 2, dModel}, 5);
  return {std::move(label), [=](bool reference) {
            if (reference) {
              return moeprof::kernels::groupedExpertFfnAten(
                  [&](int64_t e) { return weights->expert(e); }, x, counts);
            }
            return moeprof::kernels::groupedExpertFfn(*weights, x, counts);
          }};
}

// lm-cpu: batch 8 x 256 tokens, d_model 64, 4 heads, 512 experts, FFN 256.
// An lm-cpu decoding step: one query per sequence against a KV cache of 256.
// mt-cpu: batch 48 x 16 source tokens, 128 experts; a decoder step has one query per sentence.
const std::vector<KernelCase>& kernelCases() {
  static const std::vector<KernelCase> cases = {
      attentionCase("attention lm-cpu b8 s256", 8, 256, 256, 64, 4, true),
      attentionCase("attention lm-cpu dec step 256", 8, 1, 256, 64, 4, true),
      attentionCase("attention mt-cpu enc b48 s16", 48, 16, 16, 64, 4, false),
      attentionCase("attention mt-cpu dec step 8", 48, 1, 8, 64, 4, true),
      expertCase("experts lm-cpu S2048 E512", 512, 2048, 64, 256),
      expertCase("experts mt-cpu S768 E128", 128, 768, 64, 256),
      expertCase("experts mt-cpu dec S48 E128", 128, 48, 64, 256),
  };
  return cases;
}

std::map<std::string, double> secondsPerCall;
std::map<std::string, long> dispatcherCalls;
std::atomic<long> callsSeen{0};

std::unique_ptr<at::ObserverContext> countCall(const at::RecordFunction&) {
  callsSeen.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

long countDispatcherCalls(const KernelCase& c, bool reference) {
  callsSeen = 0;
  auto handle = at::addGlobalCallback(at::RecordFunctionCallback(&countCall).needsInputs(false));
  c.call(reference);
  at::removeCallback(handle);
  return callsSeen.load();
}

// The library calls this more than once while it settles the iteration count; the last call,
// the measured one, leaves its figures.
void runKernel(benchmark::State& state, const KernelCase& c, bool reference) {
  auto start = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(c.call(reference));
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  const std::string key = c.label + (reference ? "/aten" : "/kernel");
  secondsPerCall[key] = elapsed.count() / static_cast<double>(state.iterations());
  dispatcherCalls[key] = countDispatcherCalls(c, reference);
}

void printTable() {
  std::printf("\n%-30s | %11s | %11s | %7s | %12s | %12s\n", "case", "kernel ms", "ATen ms",
              "speedup", "kernel calls", "ATen calls");
  std::printf("%s\n", std::string(98, '-').c_str());
  for (const KernelCase& c : kernelCases()) {
    const double kernel = secondsPerCall[c.label + "/kernel"];
    const double aten = secondsPerCall[c.label + "/aten"];
    std::printf("%-30s | %11.3f | %11.3f | %6.2fx | %12ld | %12ld\n", c.label.c_str(), kernel * 1e3,
                aten * 1e3, kernel > 0 ? aten / kernel : 0.0, dispatcherCalls[c.label + "/kernel"],
                dispatcherCalls[c.label + "/aten"]);
  }
}

// Intra-op threads: every core unless MOEPROF_BENCH_THREADS says otherwise. One thread gives
// ratios that hold on a loaded machine, where a descheduled worker stalls a parallel region.
int benchThreads() {
  if (const char* text = std::getenv("MOEPROF_BENCH_THREADS")) {
    const int threads = std::atoi(text);
    if (threads > 0) return threads;
    std::fprintf(stderr, "MOEPROF_BENCH_THREADS=%s is not a positive integer; using every core\n",
                 text);
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(benchThreads());
  for (const KernelCase& c : kernelCases()) {
    for (bool reference : {false, true}) {
      std::string name = "cpu_kernels/" + c.label + (reference ? "/aten" : "/kernel");
      auto* benchmark = benchmark::RegisterBenchmark(name.c_str(), runKernel, c, reference)
                            ->Unit(benchmark::kMillisecond)
                            // intra-op threads: the main thread's CPU time would undercount
                            ->UseRealTime();
      moeprof::bench::minTimeOrOnce(benchmark, 0.5);
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  printTable();
  benchmark::Shutdown();
  return 0;
}
