#include "workloads/run/runner.h"

#include "workloads/checkpoints/checkpoint.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "collector/build_info.h"
#include "collector/errors.h"
#include "collector/interruption.h"
#include "collector/sources/cupti_source.h"
#include "collector/sources/memory_tracker.h"
#include "collector/sources/nvtx_source.h"
#include "collector/sources/operator_source.h"
#include "collector/store/trace_store.h"
#include "kernels/device_query.h"
#include "workloads/buffering/expert_store.h"
#include "workloads/model/models.h"
#include "workloads/parallel/expert_parallel.h"
#include "workloads/parallel/expert_parallel_moe.h"
#include "workloads/parallel/expert_parallel_run.h"
#include "workloads/run/caching_allocator.h"
#include "workloads/run/environment.h"
#include "workloads/run/inputs.h"
#include "workloads/run/measurement.h"
#include "workloads/run/output_digest.h"
#include "workloads/run/routing_recorder.h"

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

TokenSource makeTokens(const ResolvedRun& run) {
  const auto& o = run.options;
  if (o.text.given()) {
    int64_t perBatch = run.batch * run.seqLen;
    return TokenSource(text::textTokenStream(o.text, run.model.workload == WorkloadKind::Mt,
                                             perBatch * (o.warmup + o.repeats)),
                       run.model.vocab);
  }
  return o.tokensFile.empty() ? TokenSource(o.seed + 1, run.model.vocab)
                              : TokenSource(o.tokensFile, run.model.vocab);
}

// --decode reference: the rows the MT decoder is fed, one window of the references' stream per
// sequence (windows, like the source rows; not aligned with them sentence by sentence).
std::optional<TokenSource> makeReferences(const ResolvedRun& run) {
  const auto& o = run.options;
  if (run.model.workload != WorkloadKind::Mt || o.decode != "reference") return std::nullopt;
  int64_t perBatch = run.batch * run.decodeSteps;
  return TokenSource(text::referenceTokenStream(o.text, perBatch * (o.warmup + o.repeats)),
                     run.model.vocab);
}

// State shared by the measurement loops of both workloads.
struct Measurer {
  Measurer(const ResolvedRun& resolved, at::Device on, TokenSource inputs)
      : run(resolved), device(on), tokens(std::move(inputs)), references(makeReferences(run)) {}

  const ResolvedRun& run;
  at::Device device;
  TokenSource tokens;
  std::optional<TokenSource> references;  // --decode reference
  RoutingRecorder* recorder = nullptr;
  collector::TraceWriter* trace = nullptr;  // null when not tracing
  ProgressCallback progress;
  collector::MemoryTracker memory;
  ExpertSource* experts = nullptr;  // set when experts are buffered (or recorded)
  ExpertStore* store = nullptr;     // set when experts are buffered
  int64_t unbufferedWeightBytes = 0;
  OutputDigest digest;
  // Expert parallelism: this rank's share of each batch (sequences [rank * b, (rank + 1) * b)
  // of the global batch b * ranks) and the experts it holds.
  int rank = 0;
  int ranks = 1;
  ExpertParallelism* parallel = nullptr;
  ExpertParallelGroup* group = nullptr;
  int64_t shardedAwayWeightBytes = 0;

  int64_t batch() const { return run.batch / ranks; }

  ForwardContext context(collector::PhaseTimer& timer, int64_t batch, uint32_t step) {
    ForwardContext c;
    c.gating = run.options.gating;
    c.capacityMode = run.options.capacityMode;
    c.capacityFactor = run.model.capacityFactor;
    c.slotOrder = run.options.slotOrder;
    c.secondExpert = run.options.secondExpert;
    c.noiseSeed = mixNoiseSeed(mixNoiseSeed(mixNoiseSeed(run.options.seed, rank), batch), step);
    c.phases = &timer;
    c.experts = experts;
    c.parallel = parallel;
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

  // The safe point of a run asked to stop (collector/interruption.h): between batches nothing
  // is half-done. Ranks agree first, so that all stop before the same batch and none waits in
  // an all-to-all for one that stopped.
  void stopIfAsked(int64_t index) const {
    int64_t signal = collector::stopSignal();
    if (group) signal = group->maxOverRanks(signal);
    if (signal == 0) return;
    std::string where = index < 0 ? "during the warm-up"
                                  : "before measured batch " + std::to_string(index + 1) + " of " +
                                        std::to_string(run.options.repeats);
    throw collector::Interrupted(static_cast<int>(signal),
                                 collector::interruptionReason(static_cast<int>(signal), where));
  }

  // Calls perBatch(batch, tokens) for the warm-up batches (batch < 0) and then the measured
  // ones (batch = its index).
  template <typename PerBatch>
  void forEachBatch(PerBatch&& perBatch) {
    for (int64_t i = -run.options.warmup; i < run.options.repeats; ++i) {
      stopIfAsked(i);
      report(i);
      if (store) store->setBatch(i);
      // Every rank draws the whole batch (same seed, same stream) and keeps its share.
      auto all = tokens.next(run.batch, run.seqLen);
      perBatch(i, all.narrow(0, rank * batch(), batch()).contiguous().to(device));
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

  // What a measured unit computed goes into the output digest (outside its timing).
  void noteOutput(int64_t batch, const at::Tensor& output) {
    if (batch >= 0) digest.add(output);
  }
};

struct LmPhases {
  PhaseMeasurement forward, generate;
};

// Greedy generation after a prompt (the prefill is not timed): one unit per generated token.
void generateGreedy(const LmModel& model, const at::Tensor& prompt, Measurer& m, int64_t batch,
                    PhaseMeasurement& generate) {
  collector::PhaseTimer prefillTimer;
  auto prefillContext = m.context(prefillTimer, /*batch=*/-1, 0);
  auto caches = model.newCaches();
  auto next = model.forward(prompt, prefillContext, &caches).select(1, -1).argmax(-1, true);
  for (int64_t step = 1; step <= m.run.options.generateTokens; ++step) {
    at::Tensor logits;
    next = m.timeUnit(generate, batch, static_cast<uint32_t>(step), m.batch(),
                      [&](ForwardContext& context) {
                        logits = model.forward(next, context, &caches);
                        return logits.select(1, -1).argmax(-1, /*keepdim=*/true);
                      });
    m.noteOutput(batch, logits);
  }
}

void lmBatches(const LmModel& model, Measurer& m, LmPhases& out) {
  m.forEachBatch([&](int64_t batch, const at::Tensor& tokens) {
    m.memory.resetPeak();
    auto logits =
        m.timeUnit(out.forward, batch, 0, m.batch() * m.run.seqLen,
                   [&](ForwardContext& context) { return model.forward(tokens, context); });
    m.noteOutput(batch, logits);
    m.notePeak(out.forward, batch);
    if (m.run.options.generateTokens > 0) generateGreedy(model, tokens, m, batch, out.generate);
  });
}

nlohmann::json lmMetrics(const LmPhases& phases, const RunOptions& o) {
  nlohmann::json metrics = {{"forward", phases.forward.toJson()},
                            {"peak_activation_bytes", phases.forward.peakActivationBytes}};
  if (o.generateTokens > 0) metrics["generate"] = phases.generate.toJson();
  return metrics;
}

struct MtPhases {
  PhaseMeasurement encoder, decoder;
};

void decodeSteps(const MtModel& model, const at::Tensor& encoderOut, Measurer& m, int64_t batch,
                 PhaseMeasurement& decoder) {
  auto caches = model.newCaches();
  auto previous = at::full({m.batch(), 1}, model.config().decoderStartToken,
                           at::TensorOptions().dtype(at::kLong).device(m.device));
  at::Tensor references;  // (B, steps): the next input of every step, teacher forcing
  if (m.references) references = m.references->next(m.batch(), m.run.decodeSteps).to(m.device);
  for (int64_t step = 0; step < m.run.decodeSteps; ++step) {
    at::Tensor logits;
    previous = m.timeUnit(decoder, batch, static_cast<uint32_t>(step), m.batch(),
                          [&](ForwardContext& context) {
                            logits = model.decodeStep(previous, step, encoderOut, caches, context);
                            return references.defined() ? references.narrow(1, step, 1)
                                                        : logits.argmax(-1, /*keepdim=*/true);
                          });
    m.noteOutput(batch, logits);
  }
}

void mtBatches(const MtModel& model, Measurer& m, MtPhases& out) {
  m.forEachBatch([&](int64_t batch, const at::Tensor& source) {
    m.memory.resetPeak();
    auto encoderOut =
        m.timeUnit(out.encoder, batch, 0, m.batch() * m.run.seqLen,
                   [&](ForwardContext& context) { return model.encode(source, context); });
    m.noteOutput(batch, encoderOut);
    m.notePeak(out.encoder, batch);
    m.memory.resetPeak();  // the decoder's peak counts its KV caches, not the encoder's output
    decodeSteps(model, encoderOut, m, batch, out.decoder);
    m.notePeak(out.decoder, batch);
  });
}

nlohmann::json mtMetrics(const MtPhases& phases) {
  return {{"encoder", phases.encoder.toJson()},
          {"decoder", phases.decoder.toJson()},
          {"peak_activation_bytes",
           std::max(phases.encoder.peakActivationBytes, phases.decoder.peakActivationBytes)}};
}

// ---- Expert Buffering -------------------------------------------------------------------

// For each MoE layer, the one that runs after it: the next in its stack; the last encoder layer
// hands over to the first decoder layer, and the last decoder (or LM) layer to the first of its
// stack (the next decoding step or batch).
std::vector<uint32_t> nextMoeLayers(const ModelConfig& model) {
  auto layers = RoutingRecorder::headerFor(model).layers;
  std::vector<uint32_t> next(layers.size());
  uint32_t stackStart = 0;
  for (uint32_t i = 0; i < layers.size(); ++i) {
    if (i > 0 && layers[i].stack != layers[i - 1].stack) stackStart = i;
    bool last = i + 1 == layers.size();
    next[i] = last ? stackStart : i + 1;
  }
  return next;
}

// Names the expert file by what determines its contents, so runs of one model and seed share it
// (on an expert-parallel rank: also the rank's experts).
std::filesystem::path expertFilePath(const ResolvedRun& run, const ExpertParallelism* parallel,
                                     int rank, uint64_t& fingerprint) {
  const auto& m = run.model;
  std::string identity = m.name + "/" + std::to_string(m.dModel) + "/" + std::to_string(m.ffnDim) +
                         "/" + std::to_string(m.numExperts) + "/" + std::to_string(m.layers) + "/" +
                         std::to_string(m.moeEvery) + "/" + std::to_string(run.options.seed) +
                         (run.checkpointId.empty() ? "" : "/checkpoint " + run.checkpointId);
  std::string rankSuffix;
  if (parallel) {
    rankSuffix = "-rank" + std::to_string(rank);
    for (int64_t l = 0; l < parallel->numLayers(); ++l) {
      identity += "/";
      for (int64_t e : parallel->layer(l).expertsOfRank.at(rank))
        identity += std::to_string(e) + ",";
    }
  }
  fingerprint = 0xcbf29ce484222325ULL;
  for (unsigned char c : identity) fingerprint = (fingerprint ^ c) * 0x100000001b3ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fingerprint));
  return expertFileCacheDirectory() / (m.name + "-seed" + std::to_string(run.options.seed) +
                                       rankSuffix + "-" + hex + ".experts");
}

// The expert file is written from host memory: a model on a GPU lends CPU copies of its experts
// (its pinned tier is then filled from the file, in the file's layout).
struct HostExperts {
  std::vector<kernels::ExpertWeights> copies;
  std::vector<const kernels::ExpertWeights*> layers;
};

HostExperts onHost(const std::vector<const kernels::ExpertWeights*>& experts) {
  HostExperts host;
  host.copies.reserve(experts.size());
  for (const auto* layer : experts) {
    if (layer->w1.device().is_cpu()) {
      host.layers.push_back(layer);
      continue;
    }
    host.copies.push_back({layer->w1.cpu(), layer->b1.cpu(), layer->w2.cpu(), layer->b2.cpu()});
    host.layers.push_back(&host.copies.back());
  }
  return host;
}

// Moves the model's experts to the slow tier and puts a store in front of them. Belady and the
// oracle prefetcher first run `recordingPass` (the same batches, experts resident, untraced)
// to learn the run's future.
template <typename Model, typename Pass>
std::unique_ptr<ExpertStore> startBuffering(Measurer& m, Model& model, Pass&& recordingPass) {
  if (!m.run.buffering) return nullptr;
  if (m.run.model.swiGlu) {  // the expert file's records are w1, b1, w2, b2 of one FFN width
    throw InputError("--buffering: " + m.run.model.name +
                     " has SwiGLU experts (Hugging Face decoder families), which the expert " +
                     "store does not hold yet; allowed for it: --buffering off");
  }
  const BufferingConfig& config = *m.run.buffering;
  std::vector<const kernels::ExpertWeights*> experts;
  StoreModel storeModel;
  storeModel.nextMoeLayer = nextMoeLayers(m.run.model);
  storeModel.topK = m.run.model.topK;
  for (auto* layer : model.moeLayers()) {
    experts.push_back(&layer->experts);
    storeModel.routers.push_back(layer->router);
    storeModel.pregates.push_back(layer->pregate);
  }
  if (m.parallel) {  // the layers hold this rank's experts only (keepLocalExperts)
    for (int64_t l = 0; l < m.parallel->numLayers(); ++l) {
      auto& local = storeModel.localExpert.emplace_back(m.run.model.numExperts, -1);
      const auto& mine = m.parallel->layer(l).expertsOfRank.at(m.rank);
      for (size_t i = 0; i < mine.size(); ++i) local[mine[i]] = static_cast<int32_t>(i);
    }
  }
  std::vector<LayerCall> calls;
  if (config.needsRecordingPass()) {
    LayerCallRecorder recorder(experts);
    Measurer pass(m.run, m.device, makeTokens(m.run));
    pass.experts = &recorder;
    recordingPass(pass);
    calls = recorder.takeCalls();
  }
  uint64_t fingerprint = 0;
  auto path = expertFilePath(m.run, m.parallel, m.rank, fingerprint);
  if (m.progress) m.progress("preparing the expert file " + path.string());
  HostExperts host = onHost(experts);
  auto file = ExpertFile::openOrCreate(path, host.layers, fingerprint);
  m.unbufferedWeightBytes = model.weightBytes() - m.shardedAwayWeightBytes;
  model.dropExperts();
  auto store = std::make_unique<ExpertStore>(config, std::move(file), std::move(storeModel),
                                             std::move(calls));
  m.experts = m.store = store.get();
  return store;
}

// Expert parallelism: this rank keeps only its own experts of every MoE layer.
template <typename Model>
std::unique_ptr<ExpertParallelism> startExpertParallelism(Measurer& m, Model& model,
                                                          ExpertParallelGroup* group) {
  if (!group) return nullptr;
  std::vector<ExpertSharding> layers;
  for (const auto& placement : m.run.placements) {
    layers.push_back(ExpertSharding::fromPlacement(placement));
  }
  auto parallel = std::make_unique<ExpertParallelism>(*group, std::move(layers));
  m.shardedAwayWeightBytes = keepLocalExperts(model.moeLayers(), *parallel, group->rank());
  m.parallel = parallel.get();
  return parallel;
}

// Static weight memory: what stays resident (with buffering: the non-expert weights and the
// slots), and with buffering what it saves against keeping every expert.
void addWeightMetrics(nlohmann::json& metrics, const Measurer& m, int64_t residentWeightBytes) {
  if (!m.store) {
    metrics["peak_weight_bytes"] = residentWeightBytes;
    return;
  }
  int64_t buffered = residentWeightBytes + m.store->residentExpertBytes();
  metrics["peak_weight_bytes"] = buffered;
  auto buffering = m.store->metricsJson();
  buffering["unbuffered_weight_bytes"] = m.unbufferedWeightBytes;
  buffering["static_memory_reduction"] =
      static_cast<double>(m.unbufferedWeightBytes) / static_cast<double>(buffered);
  metrics["buffering"] = buffering;
}

// A fresh trace store in the run directory (a stale one of a replaced run is removed first),
// or null when the run is not traced.
std::unique_ptr<collector::TraceWriter> openTrace(const ResolvedRun& run, int rank) {
  if (run.options.trace == TraceLevel::Off) return nullptr;
  std::filesystem::create_directories(run.options.out);
  auto path = run.options.out / rankFileName(collector::kTraceFileName, rank, true);
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
  if (traced && run.options.ranks > 1) {
    std::vector<std::string> traces;
    for (int r = 0; r < run.options.ranks; ++r) {
      traces.push_back(rankFileName(collector::kTraceFileName, r, true));
    }
    manifest.files["rank_traces"] = traces;
  }
  return manifest;
}

// ---- Measuring with trace sources --------------------------------------------------------

// Runs `measureBatches` with the trace sources the run asked for attached.
template <typename MeasureBatches>
void traced(Measurer& m, MeasureBatches&& measureBatches) {
  const ResolvedRun& run = m.run;
  collector::TraceWriter* trace = m.trace;
  collector::CuptiSource cupti;  // declared first: stops after the operators that feed it ids
  std::optional<collector::OperatorSource> operators;
  std::optional<collector::NvtxSource> nvtx;
  if (trace) {
    if (run.options.trace == TraceLevel::Full && !m.device.is_cuda()) {
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
    if (m.recorder) m.recorder->setTrace(trace);
    if (m.store) m.store->setTrace(trace);
    if (run.options.trace == TraceLevel::Full) m.memory.setTrace(trace);
  }
  measureBatches();
  if (m.store) m.store->setTrace(nullptr);
  if (m.recorder) m.recorder->setTrace(nullptr);
}

// Measures the workload: builds the model, sets up buffering, runs the batches traced.
nlohmann::json measure(const ResolvedRun& run, at::Device device, TokenSource tokens,
                       RoutingRecorder* recorder, collector::TraceWriter* trace,
                       const ProgressCallback& progress, ExpertParallelGroup* group) {
  Measurer m(run, device, std::move(tokens));
  m.recorder = recorder;
  m.trace = trace;
  m.progress = progress;
  if (group) {
    m.rank = group->rank();
    m.ranks = group->worldSize();
    m.group = group;
  }
  nlohmann::json metrics;
  if (run.model.workload == WorkloadKind::Lm) {
    LmModel model = run.options.checkpoint.empty() ? LmModel(run.model, run.options.seed, device)
                                                   : loadLmModel(run.options.checkpoint, device);
    auto parallel = startExpertParallelism(m, model, group);
    auto store = startBuffering(m, model, [&](Measurer& pass) {
      LmPhases ignored;
      lmBatches(model, pass, ignored);
    });
    LmPhases phases;
    traced(m, [&] {
      collector::MemoryTracker::Scope scope(m.memory);
      lmBatches(model, m, phases);
    });
    metrics = lmMetrics(phases, run.options);
    addWeightMetrics(metrics, m, model.weightBytes() - m.shardedAwayWeightBytes);
  } else {
    MtModel model = run.options.checkpoint.empty() ? MtModel(run.model, run.options.seed, device)
                                                   : loadMtModel(run.options.checkpoint, device);
    auto parallel = startExpertParallelism(m, model, group);
    auto store = startBuffering(m, model, [&](Measurer& pass) {
      MtPhases ignored;
      mtBatches(model, pass, ignored);
    });
    MtPhases phases;
    traced(m, [&] {
      collector::MemoryTracker::Scope scope(m.memory);
      mtBatches(model, m, phases);
    });
    metrics = mtMetrics(phases);
    addWeightMetrics(metrics, m, model.weightBytes() - m.shardedAwayWeightBytes);
  }
  metrics["output_digest"] = m.digest.hex();
  return metrics;
}

std::unique_ptr<ExpertParallelGroup> joinRanks(const ResolvedRun& run) {
  if (!run.rendezvous || run.rendezvous->worldSize <= 1) return nullptr;
  if (run.rendezvous->worldSize != run.options.ranks) {
    throw InputError("this rank belongs to a world of " +
                     std::to_string(run.rendezvous->worldSize) + " ranks, but --ranks is " +
                     std::to_string(run.options.ranks));
  }
  return ExpertParallelGroup::join(*run.rendezvous);
}

// While running, every rank of a multi-rank run writes its own log; rank 0 merges them.
std::string routingLogName(const ExpertParallelGroup* group) {
  if (!group) return collector::kRoutingLogFileName;
  return rankFileName(collector::kRoutingLogFileName, group->rank(), false);
}

// Rank 0, once every rank has finished: one run.json and one routing log for the whole run.
void finishRanks(const ResolvedRun& run, const std::vector<std::string>& perRankText,
                 collector::RunManifest& manifest) {
  std::vector<nlohmann::json> perRank;
  std::vector<std::filesystem::path> logs;
  for (size_t r = 0; r < perRankText.size(); ++r) {
    perRank.push_back(nlohmann::json::parse(perRankText[r]));
    perRank.back()["rank"] = r;
    logs.push_back(run.options.out /
                   rankFileName(collector::kRoutingLogFileName, static_cast<int>(r), false));
  }
  manifest.metrics = mergeRankMetrics(perRank);
  auto merged = run.options.out / collector::kRoutingLogFileName;
  mergeRoutingLogs(logs, merged);
  auto& summary = manifest.metrics["expert_parallel"];
  summary["placement"] = run.options.placement;
  summary["placement_history"] = run.options.placementHistory.string();
  summary["placement_metrics"] = placementMetricsJson(run.placements, merged);
}

// A run asked to stop: what its routing log and trace hold is kept (whole records, committed
// events); with ranks, which all stopped before the same batch, rank 0 merges their routing
// logs once every rank has closed its own; and rank 0 marks run.json interrupted with the
// reason. Errors while closing only add to the reason: the stop is what the user must learn of.
void closeInterrupted(const collector::Interrupted& stop, const ResolvedRun& run,
                      RoutingRecorder* recorder, collector::TraceWriter* trace,
                      ExpertParallelGroup* group, RunOutcome& outcome) {
  std::string problems;
  auto attempt = [&](auto&& step) {
    try {
      step();
    } catch (const std::exception& e) {
      problems += std::string("; ") + e.what();
    }
  };
  attempt([&] {
    if (recorder) recorder->flush();
  });
  attempt([&] {
    if (trace) trace->close();
  });
  if (group) attempt([&] { group->barrier(); });
  if (group && group->rank() != 0) return;
  if (group && recorder && problems.empty()) {
    std::vector<std::filesystem::path> logs;
    for (int r = 0; r < group->worldSize(); ++r) {
      logs.push_back(run.options.out / rankFileName(collector::kRoutingLogFileName, r, false));
    }
    attempt([&] { mergeRoutingLogs(logs, run.options.out / collector::kRoutingLogFileName); });
  }
  outcome.manifest.status = collector::RunStatus::Interrupted;
  outcome.manifest.statusReason = stop.what() + problems;
  collector::writeManifest(outcome.runDir, outcome.manifest);
}

}  // namespace

RunOutcome runWorkload(const ResolvedRun& run, const ProgressCallback& progress) {
  const auto& o = run.options;
  if (o.cachingAllocator) installCachingCpuAllocator();
  at::set_num_threads(static_cast<int>(o.threads));
  at::Device device = resolveDevice(o.device);
  TokenSource tokens =
      makeTokens(run);  // an unreadable token file fails before anything is written
  // Joining the other ranks comes before anything is written, so that an unreachable
  // rendezvous leaves the run directory as it was.
  auto group = joinRanks(run);
  const int rank = group ? group->rank() : 0;
  std::filesystem::create_directories(o.out);  // by whichever rank comes first
  auto trace = openTrace(run, rank);

  RunOutcome outcome{o.out, startManifest(run, trace != nullptr)};
  auto& manifest = outcome.manifest;
  if (rank == 0) collector::writeManifest(o.out, manifest);

  std::optional<RoutingRecorder> recorder;
  if (run.model.moe) recorder.emplace(o.out / routingLogName(group.get()), run.model);
  auto start = Clock::now();
  try {
    manifest.metrics = measure(run, device, std::move(tokens), recorder ? &*recorder : nullptr,
                               trace.get(), progress, group.get());
  } catch (const collector::Interrupted& stop) {
    closeInterrupted(stop, run, recorder ? &*recorder : nullptr, trace.get(), group.get(), outcome);
    throw;
  }
  manifest.metrics["wall_ms"] = millisecondsSince(start);
  if (recorder) recorder->flush();
  if (trace) {
    trace->close();
    manifest.metrics["trace_events"] = trace->stats().eventsWritten;
  }
  if (group) {
    auto perRank = group->gatherToRoot(manifest.metrics.dump());
    if (rank != 0) return outcome;  // rank 0 writes the run directory
    finishRanks(run, perRank, manifest);
  }
  manifest.status = collector::RunStatus::Complete;
  collector::writeManifest(o.out, manifest);
  return outcome;
}

}  // namespace moeprof::workloads
