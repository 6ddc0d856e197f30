// Google Benchmark: the trace store's speed. The targets: at least 1M events/s sustained
// into SQLite and at most 100 bytes per event on disk, on a mix like a traced lm-cpu run
// (operators, allocations and frees, a few NVTX ranges). Also what one append() costs the
// thread that records, which is what a traced workload pays.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "collector/store/trace_store.h"
#include "collector/trace_events.h"
#include "tests/bench/bench_mode.h"

namespace {

using namespace moeprof::collector;
namespace fs = std::filesystem;

// Operator names as a traced MoE layer produces them.
const std::vector<std::string>& operatorNames() {
  static const std::vector<std::string> names = {
      "aten::linear",  "aten::addmm",        "aten::softmax",    "aten::topk",
      "aten::argsort", "aten::index_select", "aten::index_add_", "aten::bincount",
      "aten::empty",   "aten::layer_norm",   "aten::gelu",       "aten::mul",
      "aten::add",     "aten::matmul",       "aten::bmm",        "aten::view"};
  return names;
}

fs::path freshStore() {
  static std::atomic<int> counter{0};
  fs::path file = fs::temp_directory_path() / ("moeprof_store_bench_" + std::to_string(getpid()) +
                                               "_" + std::to_string(counter++) + ".sqlite");
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(file.string() + suffix);
  return file;
}

// Appends event i of the mix: per operator, one allocation and one free (as in a --trace full
// run), and an NVTX range every 64 operators.
void appendMixed(TraceWriter& writer, int64_t i) {
  const auto& names = operatorNames();
  int64_t t = i * 1000;
  switch (i % 3) {
    case 0:
      writer.append(OperatorEvent{t, t + 700, 4242, names[(i / 3) % names.size()], -1,
                                  static_cast<int32_t>(i % 3), static_cast<uint64_t>(i)});
      break;
    case 1:
      writer.append(MemoryEvent{t, 4242, 0, -1, 4096, 1 << 20, 1 << 21,
                                static_cast<uint64_t>(0x7f0000000000 + i * 64)});
      break;
    default:
      if (i % 192 == 2) {
        writer.append(RangeEvent{t, t + 50000, 4242, "moeprof", "experts"});
      } else {
        writer.append(MemoryEvent{t, 4242, 0, -1, -4096, 1 << 20, 1 << 21, 0x7f0000000000});
      }
  }
}

// Sustained rate: events appended and committed (flush() returned). Closing, which builds the
// time indexes and checkpoints the WAL once per run, is timed apart (close_ms).
void BM_StoreSustained(benchmark::State& state) {
  const int64_t events = state.range(0);
  int64_t bytes = 0;
  double closeMs = 0;
  for (auto _ : state) {
    fs::path file = freshStore();
    {
      TraceWriter writer(file);
      for (int64_t i = 0; i < events; ++i) appendMixed(writer, i);
      writer.flush();
      state.PauseTiming();
      auto start = std::chrono::steady_clock::now();
      writer.close();
      closeMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
    }
    bytes = static_cast<int64_t>(fs::file_size(file));
    fs::remove(file);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * events);
  state.counters["bytes_per_event"] = static_cast<double>(bytes) / static_cast<double>(events);
  state.counters["close_ms"] = closeMs;
}
BENCHMARK(BM_StoreSustained)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->UseRealTime();

// What the recording thread pays per append while the writer thread drains in the background.
void BM_AppendCost(benchmark::State& state) {
  fs::path file = freshStore();
  int64_t i = 0;
  {
    TraceWriter writer(file);
    for (auto _ : state) appendMixed(writer, i++);
  }
  fs::remove(file);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendCost)->MOEPROF_ITERATIONS(1 << 20);

}  // namespace

BENCHMARK_MAIN();
