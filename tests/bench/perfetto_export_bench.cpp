// Google Benchmark of the Perfetto export (collector/perfetto/perfetto_writer.h) on a synthetic
// trace of about a million events shaped like a traced MoE run on a GPU: per MoE layer call an NVTX
// range, an operator with three children that each launch a kernel (API call, correlation,
// kernel), an allocation and its free, an expert cache lookup, and now and then a transfer and a
// routing summary. Reports trace events exported per second ("events/s", the target is
// 1M/s) and output bytes per second, for plain JSON and gzip files, and with the output discarded
// (the exporter's CPU cost alone).
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "collector/perfetto/perfetto_output.h"
#include "collector/perfetto/perfetto_writer.h"
#include "collector/trace_events.h"
#include "tests/bench/bench_mode.h"

namespace {

namespace fs = std::filesystem;
using namespace moeprof::collector;

constexpr int64_t kTargetEvents = 1'000'000;

size_t eventCount(const Trace& t) {
  return t.operators.size() + t.ranges.size() + t.memory.size() + t.kernels.size() +
         t.memcpys.size() + t.memsets.size() + t.apiCalls.size() + t.correlations.size() +
         t.overheads.size() + t.routing.size() + t.cache.size() + t.transfers.size();
}

// One MoE layer call on `thread`, starting at `now` (ns); returns when it ends.
int64_t addLayerCall(Trace& t, uint64_t call, uint64_t thread, int64_t now) {
  static const char* const kChildren[] = {"aten::addmm", "aten::softmax", "aten::index_select"};
  static const char* const kKernels[] = {
      "void cutlass::Kernel<cutlass_80_tensorop_s1688gemm_128x128_32x3_nn_align4>(Params)",
      "void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float, float, float>",
      "void at::native::indexSelectLargeIndex<float, long, unsigned int, 2, 2, -2, true>"};
  const uint32_t layer = static_cast<uint32_t>(call % 12);
  const int64_t start = now;
  const uint64_t outer = call * 4 + 1;
  t.ranges.push_back({start, start + 9'000, thread, "moeprof", "experts", false});
  t.operators.push_back({start + 100, start + 8'900, thread, "aten::linear", -1, 0, outer});
  int64_t at = start + 200;
  for (uint64_t child = 0; child < 3; ++child) {
    uint64_t op = outer + 1 + child;
    uint64_t correlation = 1'000'000 + op;
    t.operators.push_back({at, at + 2'500, thread, kChildren[child], -1, 1, op});
    t.apiCalls.push_back(
        {at + 300, at + 700, thread, correlation, ApiEvent::Api::Runtime, "cudaLaunchKernel", 0});
    t.correlations.push_back({correlation, op});
    t.kernels.push_back({at + 1'000, at + 2'200, 0, 1, static_cast<uint32_t>(7 + thread % 2),
                         correlation, kKernels[child], 128, 1, 1, 256, 1, 1, 64, 0, 4096});
    at += 2'800;
  }
  int64_t bytes = 1 << 20;
  t.memory.push_back({start + 150, thread, 1, 0, bytes, bytes * 2, bytes * 8, 0x7f0000 + call});
  t.memory.push_back({start + 8'800, thread, 1, 0, -bytes, bytes, bytes * 8, 0x7f0000 + call});
  bool miss = call % 4 == 0;
  uint64_t transfer = miss ? call / 4 + 1 : 0;
  t.cache.push_back({start + 50, static_cast<uint32_t>(call / 12), layer,
                     static_cast<uint32_t>(call % 64), static_cast<int32_t>(call % 8),
                     miss ? CacheAction::Miss : CacheAction::Hit, transfer});
  if (miss) {
    t.transfers.push_back({start + 60, start + 4'000, 99, transfer, layer,
                           static_cast<uint32_t>(call % 64), 4 << 20, MemoryTier::Host,
                           MemoryTier::Device, false});
    t.routing.push_back({start + 40, static_cast<uint32_t>(call / 12), layer, 0, 512,
                         std::vector<uint32_t>(64, 16)});
  }
  return start + 10'000;
}

const Trace& benchTrace() {
  static const Trace trace = [] {
    Trace t;
    t.meta = {{"clock", "CLOCK_MONOTONIC"}, {"model", "bench"}};
    int64_t now[2] = {1'000'000'000, 1'000'003'000};
    for (uint64_t call = 0; static_cast<int64_t>(eventCount(t)) < kTargetEvents; ++call) {
      uint64_t thread = 1000 + call % 2;
      now[call % 2] = addLayerCall(t, call, thread, now[call % 2]);
    }
    return t;
  }();
  return trace;
}

void report(benchmark::State& state, const Trace& trace, int64_t outputBytes) {
  double iterations = static_cast<double>(state.iterations());
  state.counters["events"] = static_cast<double>(eventCount(trace));
  state.counters["events/s"] = benchmark::Counter(
      static_cast<double>(eventCount(trace)) * iterations, benchmark::Counter::kIsRate);
  state.counters["output_MB"] = static_cast<double>(outputBytes) / 1e6;
  state.counters["output_MB/s"] = benchmark::Counter(
      static_cast<double>(outputBytes) / 1e6 * iterations, benchmark::Counter::kIsRate);
}

// Layout and the write through a temporary file, fsync and rename included.
void exportToFile(benchmark::State& state, const char* fileName) {
  const Trace& trace = benchTrace();
  fs::path dir = fs::temp_directory_path() / ("moeprof_export_bench_" + std::to_string(getpid()));
  fs::create_directories(dir);
  int64_t bytes = 0;
  for (auto _ : state) {
    PerfettoWriter writer(trace);
    bytes = writer.writeFile(dir / fileName, true).bytes;
  }
  report(state, trace, bytes);
  fs::remove_all(dir);
}

void BM_ExportJsonFile(benchmark::State& state) {
  exportToFile(state, "trace.json");
}

void BM_ExportGzipFile(benchmark::State& state) {
  exportToFile(state, "trace.json.gz");
}

// Discards the JSON: what is left is the exporter's own work, layout and formatting.
class NullSink final : public OutputSink {
 public:
  void write(const char* data, size_t size) override { benchmark::DoNotOptimize(data); }
};

void BM_ExportNoOutput(benchmark::State& state) {
  const Trace& trace = benchTrace();
  int64_t bytes = 0;
  for (auto _ : state) {
    PerfettoWriter writer(trace);
    NullSink sink;
    bytes = writer.write(sink).bytes;
  }
  report(state, trace, bytes);
}

BENCHMARK(BM_ExportJsonFile)->Unit(benchmark::kMillisecond)->UseRealTime()->MOEPROF_MIN_TIME(2.0);
BENCHMARK(BM_ExportGzipFile)->Unit(benchmark::kMillisecond)->UseRealTime()->MOEPROF_MIN_TIME(2.0);
BENCHMARK(BM_ExportNoOutput)->Unit(benchmark::kMillisecond)->UseRealTime()->MOEPROF_MIN_TIME(2.0);

}  // namespace

BENCHMARK_MAIN();
