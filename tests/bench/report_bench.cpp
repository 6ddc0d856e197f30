// Google Benchmark of `moeprof report` (reports/report_builder.h, report_writers.h): reading,
// analysing and writing report.html, report.md, report.json and the chart files for
//  - a reproduce-sized directory: the default presets' shapes (lm-cpu: E = 512, 12 MoE layers,
//    2048 tokens per pass; mt-cpu: E = 128, 6 encoder and 6 decoder MoE layers, 16 decoding
//    steps, batches 8 and 48), static and dynamic gating, dense counterparts, and the routing/
//    groups (3 LM domains, 3 MT languages, trained and random), with Zipf(1.2) routing and
//    static gating's drops, 5 batches per run as reproduce records;
//  - a trace of a million events (trace.sqlite) shaped like a traced MoE run.
// Issue 15's targets: each under 10 s, the reproduce HTML at most 5 MB (counter html_bytes).
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "analysis/zipf_routing.h"
#include "collector/atomic_file.h"
#include "collector/routing_log.h"
#include "collector/run_manifest.h"
#include "collector/store/trace_store.h"
#include "reports/report_builder.h"
#include "reports/report_writers.h"
#include "tests/bench/bench_mode.h"

namespace {

namespace fs = std::filesystem;
using namespace moeprof;
using nlohmann::json;

constexpr int kBatches = 5;  // reproduce's default --repeats

fs::path benchRoot() {
  static const fs::path root =
      fs::temp_directory_path() / ("moeprof_report_bench_" + std::to_string(getpid()));
  return root;
}

struct Shape {
  std::string preset;
  std::string workload;
  uint32_t experts;
  double capacityFactor;
  int encoderLayers;  // lm: the MoE layers of the LM stack
  int decoderLayers;
  int64_t seqLen;
  int decodeSteps;
};

const Shape kLm{"lm-cpu", "lm", 512, 0.05, 12, 0, 256, 0};
const Shape kMt{"mt-cpu", "mt", 128, 1.0, 6, 6, 16, 16};

// A log of the shape's layers and passes with Zipf(1.2) choices; static gating drops what
// exceeds C = ceil(CF x S) per expert and pass, as the eval capacity rule does.
collector::RoutingLog routing(const Shape& s, int64_t batch, bool isStatic, uint64_t seed) {
  collector::RoutingLog shape;
  const bool lm = s.workload == "lm";
  shape.header = {s.preset, s.experts, 2, {}};
  for (int l = 0; l < s.encoderLayers; ++l) {
    shape.header.layers.push_back(
        {lm ? collector::LayerStack::Lm : collector::LayerStack::Encoder, uint32_t(4 * l + 3)});
  }
  for (int l = 0; l < s.decoderLayers; ++l) {
    shape.header.layers.push_back({collector::LayerStack::Decoder, uint32_t(4 * l + 3)});
  }
  // In execution order, as a run writes it: per batch the LM or encoder layers, then the
  // decoder layers once per decoding step.
  auto add = [&](uint32_t b, uint32_t l, uint32_t step, uint32_t tokens) {
    shape.records.push_back({b, l, step, tokens, std::vector<uint16_t>(tokens * 2, 0),
                             std::vector<float>(tokens * 2, 0.5f)});
  };
  const auto firstDecoder = uint32_t(s.encoderLayers);
  for (uint32_t b = 0; b < kBatches; ++b) {
    for (uint32_t l = 0; l < firstDecoder; ++l) add(b, l, 0, uint32_t(batch * s.seqLen));
    for (uint32_t step = 0; step < uint32_t(s.decodeSteps) && s.decoderLayers > 0; ++step) {
      for (uint32_t l = firstDecoder; l < shape.header.layers.size(); ++l) {
        add(b, l, step, uint32_t(batch));
      }
    }
  }
  auto log = analysis::zipfRoutingLike(shape, 1.2, seed);
  if (!isStatic) return log;
  for (auto& record : log.records) {
    const auto capacity = uint32_t(std::ceil(s.capacityFactor * record.numTokens));
    std::vector<uint32_t> used(s.experts, 0);
    for (auto& expert : record.experts) {
      if (++used[expert] > capacity) expert |= collector::kDroppedFlag;
    }
  }
  return log;
}

json phaseMetrics(double scale) {
  return {{"tokens_per_s", 1000.0 * scale},
          {"latency_ms", {{"median", 10.0 / scale}, {"p90", 12.0 / scale}}},
          {"waste_factor", 1.0},
          {"dropped_tokens", 0},
          {"peak_activation_bytes", int64_t(1e6 * scale)},
          {"phase_ms",
           {{"gate", 1.0},
            {"dispatch", 2.0 / scale},
            {"experts", 3.0},
            {"combine", 1.5 / scale},
            {"attention", 2.5},
            {"other", 0.5}}},
          {"units", 1}};
}

void writeRun(const fs::path& dir, const Shape& s, const std::string& gating, int64_t batch,
              bool moe, const json& text, uint64_t seed) {
  fs::create_directories(dir);
  collector::RunManifest m;
  m.status = collector::RunStatus::Complete;
  m.tool = "moeprof bench";
  m.createdAt = "2026-01-01T00:00:00Z";
  m.config = {{"preset", moe ? s.preset : s.workload + "-dense-cpu"},
              {"workload", s.workload},
              {"gating", moe ? gating : "none"},
              {"batch", batch},
              {"capacity_factor", s.capacityFactor},
              {"capacity_mode", "eval"},
              {"checkpoint", nullptr},
              {"text", text},
              {"model", {{"layers", 24}, {"d_model", 64}, {"experts", s.experts}, {"top_k", 2}}}};
  const double scale = gating == "dynamic" ? 4.0 : 1.0;
  for (const char* phase : s.workload == "lm" ? std::vector<const char*>{"forward"}
                                              : std::vector<const char*>{"encoder", "decoder"}) {
    m.metrics[phase] = phaseMetrics(scale);
  }
  m.metrics["peak_activation_bytes"] = int64_t(2e6 * scale);
  m.metrics["peak_weight_bytes"] = int64_t(moe ? 800e6 : 7e6);
  if (moe) {
    m.files["routing_log"] = collector::kRoutingLogFileName;
    const auto log = routing(s, batch, gating == "static", seed);
    collector::RoutingLogWriter writer(dir / collector::kRoutingLogFileName, log.header);
    for (const auto& r : log.records) writer.append(r);
    writer.flush();
  }
  collector::writeManifest(dir, m);
}

const fs::path& reproduceDir() {
  static const fs::path dir = [] {
    const fs::path d = benchRoot() / "reproduce";
    uint64_t seed = 1;
    for (const auto& [shape, batches] :
         {std::pair{kLm, std::vector<int64_t>{8}}, {kMt, std::vector<int64_t>{8, 48}}}) {
      for (int64_t b : batches) {
        for (const char* g : {"static", "dynamic"}) {
          writeRun(d / (shape.preset + "-" + g + "-b" + std::to_string(b)), shape, g, b, true,
                   nullptr, seed++);
        }
      }
      writeRun(d / (shape.workload + "-dense-b" + std::to_string(batches.back())), shape, "static",
               batches.back(), false, nullptr, 0);
      const bool lm = shape.workload == "lm";
      for (const char* weights : {"trained", "random"}) {
        for (const char* label : lm ? std::vector<const char*>{"prose", "code", "license"}
                                    : std::vector<const char*>{"fr", "ja", "ast"}) {
          writeRun(d / "routing" / (shape.workload + "-" + weights) / label, shape, "dynamic",
                   lm ? 8 : 48, true, json{{lm ? "domain" : "lang", label}}, seed++);
        }
      }
    }
    collector::writeFileAtomically(d / "summary.json", "{}\n");
    return d;
  }();
  return dir;
}

// A million events: per MoE layer call a range, an operator with three children, two memory
// events and a cache lookup; 11 events per call.
const fs::path& traceFile() {
  static const fs::path file = [] {
    const fs::path f = benchRoot() / "trace" / collector::kTraceFileName;
    fs::create_directories(f.parent_path());
    collector::TraceWriter writer(f);
    int64_t now = 1'000'000;
    int64_t allocated = 0;
    for (uint64_t call = 0; call < 1'000'000 / 11 + 1; ++call, now += 10'000) {
      writer.append(collector::RangeEvent{now, now + 9'000, 1, "moeprof", "experts", false});
      writer.append(
          collector::OperatorEvent{now + 100, now + 8'900, 1, "aten::linear", -1, 0, call * 4 + 1});
      for (uint64_t child = 0; child < 3; ++child) {
        const int64_t at = now + 200 + int64_t(child) * 2'800;
        writer.append(collector::OperatorEvent{at, at + 2'500, 1, "aten::addmm", -1, 1,
                                               call * 4 + 2 + child});
      }
      const int64_t bytes = (1 << 20) + int64_t(call % 7) * 4096;
      allocated += bytes;
      writer.append(collector::MemoryEvent{now + 150, 1, 0, -1, bytes, allocated, allocated, 0});
      allocated -= bytes;
      writer.append(collector::MemoryEvent{now + 8'800, 1, 0, -1, -bytes, allocated, allocated, 0});
      writer.append(collector::CacheEvent{now + 50, uint32_t(call / 12), uint32_t(call % 12),
                                          uint32_t(call % 64), int32_t(call % 8),
                                          collector::CacheAction::Hit, 0});
      for (int filler = 0; filler < 3; ++filler) {
        writer.append(collector::OverheadEvent{now + 9'100 + filler * 100,
                                               now + 9'150 + filler * 100, 1, "collector.flush"});
      }
    }
    writer.close();
    return f;
  }();
  return file;
}

void reportOf(benchmark::State& state, const fs::path& input, const std::string& out) {
  int64_t htmlBytes = 0;
  for (auto _ : state) {
    const auto document = reports::buildReport(std::vector<fs::path>{input});
    const auto written = reports::writeReport(document, benchRoot() / out);
    htmlBytes = int64_t(fs::file_size(written.front()));
  }
  state.counters["html_bytes"] = double(htmlBytes);
}

void BM_ReportOfReproduce(benchmark::State& state) {
  reportOf(state, reproduceDir(), "reproduce-report");
}
BENCHMARK(BM_ReportOfReproduce)->Unit(benchmark::kMillisecond)->MOEPROF_ITERATIONS(3);

void BM_ReportOfMillionEventTrace(benchmark::State& state) {
  reportOf(state, traceFile(), "trace-report");
}
BENCHMARK(BM_ReportOfMillionEventTrace)->Unit(benchmark::kMillisecond)->MOEPROF_ITERATIONS(3);

// Removes the generated inputs and reports when the benchmarks are done, unless
// MOEPROF_BENCH_KEEP is set (to look at them).
struct Cleanup {
  // Its own copy: benchRoot()'s static is gone by the time static destructors run.
  fs::path root = benchRoot();
  ~Cleanup() {
    if (!std::getenv("MOEPROF_BENCH_KEEP")) fs::remove_all(root);
  }
} cleanup;

}  // namespace

BENCHMARK_MAIN();
