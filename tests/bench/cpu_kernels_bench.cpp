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

// How a case is run: the kernel as the layers call it, its ATen reference, or (expert FFNs) the
// CBLAS kernel called directly (the path the layers take for float32 on the CPU).
enum class Variant { Kernel, Aten, Cblas };
const char* variantName(Variant v) {
  return v == Variant::Kernel ? "/kernel" : v == Variant::Aten ? "/aten" : "/cblas";
}

// A kernel case: a label and how to call each variant; flops, where counted (the expert FFNs'
// GEMMs), for GFLOP/s against the single-GEMM peak.
struct KernelCase {
  std::string label;
  std::function<at::Tensor(Variant variant)> call;
  double flops = 0;
  bool hasCblas = false;
};

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat));
}

KernelCase attentionCase(std::string label, int64_t batch, int64_t queries, int64_t keys,
                         int64_t dModel, int64_t heads, bool causal) {
  auto q = randn({batch, queries, dModel}, 1), k = randn({batch, keys, dModel}, 2),
       v = randn({batch, keys, dModel}, 3);
  return {std::move(label), [=](Variant variant) {
            return variant == Variant::Aten
                       ? moeprof::kernels::attentionAten(q, k, v, heads, causal)
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
  return {std::move(label),
          [=](Variant variant) {
            if (variant == Variant::Aten) {
              return moeprof::kernels::groupedExpertFfnAten(
                  [&](int64_t e) { return weights->expert(e); }, x, counts);
            }
            if (variant == Variant::Cblas) {
              return moeprof::kernels::groupedExpertFfnCblas(*weights, x, counts);
            }
            return moeprof::kernels::groupedExpertFfn(*weights, x, counts);
          },
          2.0 * 2.0 * static_cast<double>(tokens * 2 * dModel * ffn), true};
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

long countDispatcherCalls(const KernelCase& c, Variant variant) {
  callsSeen = 0;
  auto handle = at::addGlobalCallback(at::RecordFunctionCallback(&countCall).needsInputs(false));
  c.call(variant);
  at::removeCallback(handle);
  return callsSeen.load();
}

// The library calls this more than once while it settles the iteration count; the last call,
// the measured one, leaves its figures.
void runKernel(benchmark::State& state, const KernelCase& c, Variant variant) {
  auto start = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(c.call(variant));
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  const std::string key = c.label + variantName(variant);
  secondsPerCall[key] = elapsed.count() / static_cast<double>(state.iterations());
  dispatcherCalls[key] = countDispatcherCalls(c, variant);
}

// The machine's single-GEMM peak: one large square float32 GEMM (1024^3, 2.1 GFLOP) through
// ATen's BLAS (the OpenBLAS the CBLAS kernels call too), on the same threads as the kernels.
constexpr int64_t kPeakSize = 1024;
double peakGflops = 0;

void runPeakSgemm(benchmark::State& state) {
  auto a = randn({kPeakSize, kPeakSize}, 6), b = randn({kPeakSize, kPeakSize}, 7);
  auto c = at::empty({kPeakSize, kPeakSize});
  auto start = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(at::mm_out(c, a, b));
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  const double flops = 2.0 * kPeakSize * kPeakSize * kPeakSize * state.iterations();
  peakGflops = flops / elapsed.count() / 1e9;
  state.counters["GFLOP/s"] = peakGflops;
}

void printTable() {
  // kernel: as the layers call it; CBLAS: the expert kernel called directly.
  std::printf("\n%-30s | %11s | %11s | %7s | %9s | %12s | %12s | %9s | %7s\n", "case", "kernel ms",
              "ATen ms", "speedup", "CBLAS ms", "kernel calls", "ATen calls", "GFLOP/s", "of peak");
  std::printf("%s\n", std::string(132, '-').c_str());
  for (const KernelCase& c : kernelCases()) {
    const double kernel = secondsPerCall[c.label + "/kernel"];
    const double aten = secondsPerCall[c.label + "/aten"];
    const double cblas = secondsPerCall[c.label + "/cblas"];
    const double gflops = c.flops > 0 && kernel > 0 ? c.flops / kernel / 1e9 : 0.0;
    std::printf("%-30s | %11.3f | %11.3f | %6.2fx | %9.3f | %12ld | %12ld | %9.1f | %6.1f%%\n",
                c.label.c_str(), kernel * 1e3, aten * 1e3, kernel > 0 ? aten / kernel : 0.0,
                cblas * 1e3, dispatcherCalls[c.label + "/kernel"],
                dispatcherCalls[c.label + "/aten"], gflops,
                peakGflops > 0 ? 100.0 * gflops / peakGflops : 0.0);
  }
  std::printf("single sgemm %ld^3 peak: %.1f GFLOP/s on %d threads\n", static_cast<long>(kPeakSize),
              peakGflops, at::get_num_threads());
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
  moeprof::bench::minTimeOrOnce(
      benchmark::RegisterBenchmark("cpu_kernels/sgemm peak 1024^3", runPeakSgemm)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime(),
      0.5);
  for (const KernelCase& c : kernelCases()) {
    for (Variant variant : {Variant::Kernel, Variant::Aten, Variant::Cblas}) {
      if (variant == Variant::Cblas && !c.hasCblas) continue;
      std::string name = "cpu_kernels/" + c.label + variantName(variant);
      auto* benchmark = benchmark::RegisterBenchmark(name.c_str(), runKernel, c, variant)
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
