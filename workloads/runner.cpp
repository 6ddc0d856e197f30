#include "workloads/runner.h"

#include <chrono>
#include <memory>
#include <optional>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "collector/build_info.h"
#include "collector/cupti_source.h"
#include "collector/errors.h"
#include "collector/memory_tracker.h"
#include "collector/nvtx_source.h"
#include "collector/operator_source.h"
#include "collector/trace_store.h"
#include "kernels/device_query.h"
#include "workloads/caching_allocator.h"
#include "workloads/environment.h"
#include "workloads/inputs.h"
#include "workloads/measurement.h"
#include "workloads/models.h"
#include "workloads/routing_recorder.h"

namespace moeprof::workloads {

namespace {

using Clock = std::chrono::steady_clock;

double millisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

at::Device resolveDevice(const std::string& device) {
  if (device == "cpu") return at::kCPU;
  if (!at::hasCUDA()) {
    throw InputError("--device cuda: this LibTorch build cannot use CUDA (CUDA runtime: " +
                     kernels::queryCudaDevices().reason + "); allowed here: cpu");
  }
  return at::Device(at::kCUDA, 0);
}

// On a GPU, wait for the work that produced `t`; CPU work is already done.
void waitFor(const at::Tensor& t) {
  if (t.is_cuda()) (void)t.reshape({-1})[0].item<float>();
}

// State shared by the measurement loops of both workloads.
struct Measurer {
  const ResolvedRun& run;
  at::Device device;
  TokenSource& tokens;
  RoutingRecorder* recorder;
  collector::TraceWriter* trace;  // null when not tracing
  const ProgressCallback& progress;
  collector::MemoryTracker memory;

  ForwardContext context(collector::PhaseTimer& timer, int64_t batch, uint32_t step) {
    ForwardContext c;
    c.gating = run.options.gating;
    c.capacityMode = run.options.capacityMode;
    c.capacityFactor = run.model.capacityFactor;
    c.phases = &timer;
    if (batch >= 0 && recorder) {
      recorder->setPosition(static_cast<uint32_t>(batch), step);
      c.routing = recorder;
    }
    return c;
  }

  void report(int64_t index) {
    if (!progress) return;
    const auto& o = run.options;
    std::string what =
        index < 0
            ? "warm-up " + std::to_string(index + o.warmup + 1) + "/" + std::to_string(o.warmup)
            : "batch " + std::to_string(index + 1) + "/" + std::to_string(o.repeats);
    progress(run.model.name + " " + (run.model.moe ? gatingName(o.gating) : "dense") + " b" +
             std::to_string(run.batch) + ": " + what);
  }

  // Calls perBatch(batch, tokens) for the warm-up batches (batch < 0) and then the measured
  // ones (batch = its index).
  template <typename PerBatch>
  void forEachBatch(PerBatch&& perBatch) {
    for (int64_t i = -run.options.warmup; i < run.options.repeats; ++i) {
      report(i);
      perBatch(i, tokens.next(run.batch, run.seqLen).to(device));
    }
  }

  // Runs one unit of work (a forward pass, an encoder pass, one decoding step) and adds its
  // time to `out` when the batch is measured. Returns what the work returned.
  template <typename Work>
  at::Tensor timeUnit(PhaseMeasurement& out, int64_t batch, uint32_t step, int64_t unitTokens,
                      Work&& work) {
    collector::PhaseTimer timer;
    auto forwardContext = context(timer, batch, step);
    auto start = Clock::now();
    at::Tensor result = work(forwardContext);
    waitFor(result);
    if (batch >= 0)
      out.addUnit(millisecondsSince(start), timer, unitTokens, forwardContext.counters);
    return result;
  }

  void notePeak(PhaseMeasurement& out, int64_t batch) {
    if (batch < 0) return;
    out.peakActivationBytes = std::max(out.peakActivationBytes, memory.peakAboveResetBytes());
  }
};

// Greedy generation after a prompt (the prefill is not timed): one unit per generated token.
void generateGreedy(const LmModel& model, const at::Tensor& prompt, Measurer& m, int64_t batch,
                    PhaseMeasurement& generate) {
  collector::PhaseTimer prefillTimer;
  auto prefillContext = m.context(prefillTimer, /*batch=*/-1, 0);
  auto caches = model.newCaches();
  auto next = model.forward(prompt, prefillContext, &caches).select(1, -1).argmax(-1, true);
  for (int64_t step = 1; step <= m.run.options.generateTokens; ++step) {
    next = m.timeUnit(generate, batch, static_cast<uint32_t>(step), m.run.batch,
                      [&](ForwardContext& context) {
                        auto logits = model.forward(next, context, &caches);
                        return logits.select(1, -1).argmax(-1, /*keepdim=*/true);
                      });
  }
}

nlohmann::json measureLm(Measurer& m) {
  const auto& o = m.run.options;
  LmModel model(m.run.model, o.seed, m.device);
  PhaseMeasurement forward, generate;
  collector::MemoryTracker::Scope scope(m.memory);
  m.forEachBatch([&](int64_t batch, const at::Tensor& tokens) {
    m.memory.resetPeak();
    m.timeUnit(forward, batch, 0, m.run.batch * m.run.seqLen,
               [&](ForwardContext& context) { return model.forward(tokens, context); });
    m.notePeak(forward, batch);
    if (o.generateTokens > 0) generateGreedy(model, tokens, m, batch, generate);
  });
  nlohmann::json metrics = {{"forward", forward.toJson()},
                            {"peak_weight_bytes", model.weightBytes()},
                            {"peak_activation_bytes", forward.peakActivationBytes}};
  if (o.generateTokens > 0) metrics["generate"] = generate.toJson();
  return metrics;
}

void decodeGreedy(const MtModel& model, const at::Tensor& encoderOut, Measurer& m, int64_t batch,
                  PhaseMeasurement& decoder) {
  auto caches = model.newCaches();
  auto previous = at::full({m.run.batch, 1}, MtModel::kBosToken,
                           at::TensorOptions().dtype(at::kLong).device(m.device));
  for (int64_t step = 0; step < m.run.decodeSteps; ++step) {
    previous = m.timeUnit(
        decoder, batch, static_cast<uint32_t>(step), m.run.batch, [&](ForwardContext& context) {
          auto logits = model.decodeStep(previous, step, encoderOut, caches, context);
          return logits.argmax(-1, /*keepdim=*/true);
        });
  }
}

nlohmann::json measureMt(Measurer& m) {
  MtModel model(m.run.model, m.run.options.seed, m.device);
  PhaseMeasurement encoder, decoder;
  collector::MemoryTracker::Scope scope(m.memory);
  m.forEachBatch([&](int64_t batch, const at::Tensor& source) {
    m.memory.resetPeak();
    auto encoderOut =
        m.timeUnit(encoder, batch, 0, m.run.batch * m.run.seqLen,
                   [&](ForwardContext& context) { return model.encode(source, context); });
    m.notePeak(encoder, batch);
    m.memory.resetPeak();  // the decoder's peak counts its KV caches, not the encoder's output
    decodeGreedy(model, encoderOut, m, batch, decoder);
    m.notePeak(decoder, batch);
  });
  return {{"encoder", encoder.toJson()},
          {"decoder", decoder.toJson()},
          {"peak_weight_bytes", model.weightBytes()},
          {"peak_activation_bytes",
           std::max(encoder.peakActivationBytes, decoder.peakActivationBytes)}};
}

// A fresh trace store in the run directory (a stale one of a replaced run is removed first),
// or null when the run is not traced.
std::unique_ptr<collector::TraceWriter> openTrace(const ResolvedRun& run) {
  if (run.options.trace == TraceLevel::Off) return nullptr;
  std::filesystem::create_directories(run.options.out);
  auto path = run.options.out / collector::kTraceFileName;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  return std::make_unique<collector::TraceWriter>(path);
}

collector::RunManifest startManifest(const ResolvedRun& run, bool traced) {
  collector::RunManifest manifest;
  manifest.tool = collector::toolVersion();
  manifest.createdAt = collector::currentUtcTimestamp();
  manifest.config = configJson(run);
  manifest.environment = captureEnvironment(run.options.device);
  if (run.model.moe) manifest.files["routing_log"] = collector::kRoutingLogFileName;
  if (traced) manifest.files["trace"] = collector::kTraceFileName;
  return manifest;
}

// Measures the workload with the trace sources the run asked for attached.
nlohmann::json measure(const ResolvedRun& run, at::Device device, TokenSource& tokens,
                       RoutingRecorder* recorder, collector::TraceWriter* trace,
                       const ProgressCallback& progress) {
  Measurer measurer{run, device, tokens, recorder, trace, progress, {}};
  collector::CuptiSource cupti;  // declared first: stops after the operators that feed it ids
  std::optional<collector::OperatorSource> operators;
  std::optional<collector::NvtxSource> nvtx;
  if (trace) {
    if (run.options.trace == TraceLevel::Full && !device.is_cuda()) {
      trace->setMeta("cupti", "unavailable: the run is on the CPU");
    } else if (run.options.trace == TraceLevel::Full) {
      try {
        cupti.start(*trace);
      } catch (const std::runtime_error& e) {
        trace->setMeta("cupti", e.what());  // no GPU tracing, the run goes on
      }
    }
    operators.emplace(*trace, cupti.running() ? &cupti : nullptr);
    nvtx.emplace(*trace);
    if (recorder) recorder->setTrace(trace);
    if (run.options.trace == TraceLevel::Full) measurer.memory.setTrace(trace);
  }
  auto metrics = run.model.workload == WorkloadKind::Lm ? measureLm(measurer) : measureMt(measurer);
  if (recorder) recorder->setTrace(nullptr);
  return metrics;
}

}  // namespace

RunOutcome runWorkload(const ResolvedRun& run, const ProgressCallback& progress) {
  const auto& o = run.options;
  if (o.cachingAllocator) installCachingCpuAllocator();
  at::set_num_threads(static_cast<int>(o.threads));
  at::Device device = resolveDevice(o.device);
  TokenSource tokens = o.tokensFile.empty() ? TokenSource(o.seed + 1, run.model.vocab)
                                            : TokenSource(o.tokensFile, run.model.vocab);
  auto trace = openTrace(run);

  RunOutcome outcome{o.out, startManifest(run, trace != nullptr)};
  auto& manifest = outcome.manifest;
  collector::writeManifest(o.out, manifest);

  std::optional<RoutingRecorder> recorder;
  if (run.model.moe) recorder.emplace(o.out / collector::kRoutingLogFileName, run.model);
  auto start = Clock::now();
  manifest.metrics =
      measure(run, device, tokens, recorder ? &*recorder : nullptr, trace.get(), progress);
  manifest.metrics["wall_ms"] = millisecondsSince(start);
  if (recorder) recorder->flush();
  if (trace) {
    trace->close();
    manifest.metrics["trace_events"] = trace->stats().eventsWritten;
  }
  manifest.status = collector::RunStatus::Complete;
  collector::writeManifest(o.out, manifest);
  return outcome;
}

}  // namespace moeprof::workloads
