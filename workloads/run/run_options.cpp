#include "workloads/run/run_options.h"

#include <thread>

#include "analysis/expert_cache.h"
#include "collector/errors.h"
#include "collector/run_directory.h"
#include "collector/run_manifest.h"
#include "workloads/checkpoints/checkpoint.h"
#include "workloads/model/presets.h"
#include "workloads/parallel/expert_placement.h"

namespace moeprof::workloads {

namespace {

void requireRange(const char* option, int64_t value, int64_t low, int64_t high,
                  const std::string& why = "") {
  if (value < low || value > high) {
    throw InputError(std::string(option) + " " + std::to_string(value) +
                     " is out of range: allowed " + std::to_string(low) + ".." +
                     std::to_string(high) + why);
  }
}

void resolveShape(const RunOptions& in, ResolvedRun& out, ModelConfig& model) {
  if (in.topK) {
    requireRange("--top-k", *in.topK, 1, model.numExperts,
                 " (the number of experts of " + model.name + ")");
    if (!model.moe && *in.topK != 1)
      throw InputError("--top-k needs an MoE preset, " + model.name + " is dense");
    model.topK = *in.topK;
  }
  if (in.secondExpert == kernels::SecondExpert::Sampling && model.topK < 2) {
    throw InputError("--second-expert sampling needs top-k >= 2: " + model.name +
                     " sends each token to 1 expert, so there is no second expert to sample "
                     "(allowed: all)");
  }
  if (in.capacityFactor) {
    double cf = *in.capacityFactor;
    if (!(cf > 0.0) || cf > 1000.0) {
      throw InputError("--capacity-factor " + std::to_string(cf) +
                       " is out of range: allowed (0, 1000]");
    }
    model.capacityFactor = cf;
  }
  out.batch = in.batch.value_or(model.defaultBatch);
  out.seqLen = in.seqLen.value_or(model.defaultSeqLen);
  out.decodeSteps =
      model.workload == WorkloadKind::Mt ? in.decodeSteps.value_or(model.defaultDecodeSteps) : 0;
  requireRange("--batch", out.batch, 1, 1 << 16);
  requireRange("--seq-len", out.seqLen, 1, model.maxPositions,
               " (positions of " + model.name + ")");
  if (model.workload == WorkloadKind::Mt) {
    requireRange("--decode-steps", out.decodeSteps, 1, model.maxPositions,
                 " (positions of " + model.name + ")");
    if (in.generateTokens)
      throw InputError("--generate applies to lm presets; use --decode-steps for mt");
    if (in.decode != "greedy" && in.decode != "reference") {
      throw InputError("--decode '" + in.decode + "' is not one of: greedy, reference");
    }
    if (in.decode == "reference" && in.text.language.empty()) {
      throw InputError(
          "--decode reference needs --lang (fr, ja or ast): it feeds the decoder "
          "the references of the corpus' validation pairs");
    }
  } else {
    if (in.decodeSteps)
      throw InputError("--decode-steps applies to mt presets; use --generate for lm");
    if (in.decode != "greedy") throw InputError("--decode applies to mt presets");
    requireRange("--generate", in.generateTokens, 0, model.maxPositions - out.seqLen,
                 " (seq-len + generated tokens must fit the " + std::to_string(model.maxPositions) +
                     " positions of " + model.name + ")");
  }
}

void resolveRunControl(const RunOptions& in, RunOptions& out) {
  requireRange("--repeats", in.repeats, 1, 10000);
  requireRange("--warmup", in.warmup, 0, 1000);
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  out.threads = in.threads ? in.threads : cores;
  requireRange("--threads", out.threads, 1, 4096);
  if (in.device != "cpu" && in.device != "cuda") {
    throw InputError("--device '" + in.device + "' is not one of: cpu, cuda");
  }
  if (in.out.empty()) throw InputError("--out is required: the run directory to write");
}

// Buffering slots must hold a token's k experts and fewer than all E (else nothing is buffered).
BufferingConfig resolveBuffering(const RunOptions& in, const ModelConfig& model) {
  BufferingConfig config;
  config.policy = in.buffering;
  analysis::makePolicy(config.policy, {});  // InputError naming the allowed policies
  if (!model.moe) throw InputError("--buffering needs an MoE preset, " + model.name + " is dense");
  if (in.gating != GatingMode::Dynamic) {
    throw InputError(
        "--buffering needs --gating dynamic: static gating runs every expert on every batch, so "
        "there is nothing to buffer");
  }
  // --device cuda: pinned host memory -> device slots. Without the CUDA toolkit in the build
  // there is no such tier; with it, a CPU-only LibTorch is refused when the run resolves the
  // device (runner.cpp), before anything is written.
#ifdef MOEPROF_HAVE_CUDA
  config.tier = in.device == "cuda" ? TierKind::PinnedHost : TierKind::Disk;
#else
  if (in.device != "cpu") {
    throw InputError("--buffering with --device " + in.device +
                     ": this moeprof was built without the CUDA toolkit, so only the CPU tiers "
                     "(disk -> RAM slots) exist; allowed here: --device cpu");
  }
#endif
  int64_t slots = in.cacheSlots.value_or(std::max(model.topK, (model.numExperts + 3) / 4));
  requireRange("--cache-slots", slots, model.topK, model.numExperts,
               " (top-k to the " + std::to_string(model.numExperts) + " experts per layer of " +
                   model.name + ")");
  config.slotsPerLayer = static_cast<uint32_t>(slots);
  config.scope = analysis::parseCacheScope(in.cacheScope.value_or("layer"));
  config.prefetch = parsePrefetchMode(in.prefetch.value_or("off"));
  int64_t depth = in.ioDepth.value_or(BufferingConfig::kDefaultIoDepth);
  requireRange("--io-depth", depth, 1, BufferingConfig::kMaxIoDepth, " (reads in flight)");
  config.ioDepth = static_cast<uint32_t>(depth);
  int64_t readAhead = in.readAhead.value_or(BufferingConfig::kDefaultReadAheadBuffers);
  requireRange("--read-ahead", readAhead, 0, BufferingConfig::kMaxReadAheadBuffers,
               " (read-ahead buffers of one expert each)");
  config.readAheadBuffers = static_cast<uint32_t>(readAhead);
  if (config.policy == "belady" && config.prefetch != PrefetchMode::Off) {
    throw InputError(
        "--buffering belady is the optimum for fetching on demand; it takes "
        "--prefetch off, not " +
        *in.prefetch);
  }
  return config;
}

void resolveOptimizations(const RunOptions& in, ResolvedRun& out) {
  if (in.buffering != "off") {
    out.buffering = resolveBuffering(in, out.model);
    return;
  }
  for (const auto& [given, name] : {std::pair{in.cacheSlots.has_value(), "--cache-slots"},
                                    {in.cacheScope.has_value(), "--cache-scope"},
                                    {in.prefetch.has_value(), "--prefetch"},
                                    {in.ioDepth.has_value(), "--io-depth"},
                                    {in.readAhead.has_value(), "--read-ahead"}}) {
    if (given) throw InputError(std::string(name) + " needs --buffering (a cache policy)");
  }
}

// ---- Expert parallelism ----------------------------------------------------------------
// Ranks split the batch (data parallel outside the MoE layers) and the experts (E / ranks each).
void resolveExpertParallel(const RunOptions& in, ResolvedRun& out) {
  const ModelConfig& model = out.model;
  requireRange("--ranks", in.ranks, 1, std::max<int64_t>(1, model.numExperts),
               " (at most one rank per expert of " + model.name + ")");
  if (!(in.rendezvousTimeoutS > 0) || in.rendezvousTimeoutS > 3600) {
    throw InputError("--rendezvous-timeout " + std::to_string(in.rendezvousTimeoutS) +
                     " is out of range: allowed (0, 3600] seconds");
  }
  if (!model.moe) {
    if (in.ranks > 1 || in.placement != "roundrobin" || !in.placementHistory.empty()) {
      throw InputError("--ranks and --placement need an MoE preset, " + model.name + " is dense");
    }
    return;
  }
  // First: whether the ranks divide the experts, and the history (greedy, anticorr, eplb).
  const analysis::PlacementSpec placement = parseLivePlacement(in.placement);
  if (placement.algorithm == "eplb" && in.gating != GatingMode::Dynamic) {
    throw InputError("--placement " + in.placement +
                     " needs --gating dynamic: replicas split an expert's tokens, and static "
                     "gating sends each expert's whole capacity buffer to one rank");
  }
  out.placements =
      planPlacements(placement, model, static_cast<int>(in.ranks), in.placementHistory);
  if (in.ranks > 1) {
    if (out.batch % in.ranks != 0) {
      throw InputError("--batch " + std::to_string(out.batch) + " is not a multiple of --ranks " +
                       std::to_string(in.ranks) + ": every rank holds batch / ranks sequences");
    }
    if (in.device != "cpu") {
      throw InputError("--ranks " + std::to_string(in.ranks) + " with --device " + in.device +
                       ": expert parallelism runs on Gloo, CPU only; allowed: --device cpu");
    }
    if (out.buffering && out.buffering->needsRecordingPass()) {
      throw InputError("--buffering " + out.buffering->policy + " --prefetch " +
                       prefetchModeName(out.buffering->prefetch) + " with --ranks " +
                       std::to_string(in.ranks) +
                       ": belady and oracle need a recording pass, which runs on one rank; with "
                       "ranks, use lifo, lru, lfu or fifo and --prefetch off, pregate or all");
    }
  }
}

// --checkpoint: the model is the checkpoint's; a preset or workload that says otherwise is an
// error rather than silently ignored. Text input defaults to the tokenizer saved beside it, and
// a checkpoint without one says that the corpus' is used instead.
CheckpointInfo checkpointModel(const RunOptions& in, RunOptions& out, ResolvedRun& run) {
  if (!in.preset.empty()) {
    throw InputError("--preset " + in.preset + " and --checkpoint " + in.checkpoint.string() +
                     " exclude each other: the checkpoint's config.json gives the model");
  }
  CheckpointInfo checkpoint = describeCheckpoint(in.checkpoint);
  const ModelConfig& model = checkpoint.config;
  if (in.workload && *in.workload != model.workload) {
    throw InputError("--workload " + std::string(workloadName(*in.workload)) +
                     " but --checkpoint " + in.checkpoint.string() + " holds an " +
                     workloadName(model.workload) + " model");
  }
  const auto tokenizer = in.checkpoint / "tokenizer.model";
  if (in.text.given() && in.text.tokenizer.empty() && std::filesystem::exists(tokenizer)) {
    out.text.tokenizer = tokenizer;
    run.tokenizerSource = "checkpoint";
  } else if (in.text.given() && in.text.tokenizer.empty()) {
    run.warnings.push_back(
        "--checkpoint " + in.checkpoint.string() +
        " has no tokenizer.model: the text is tokenized with the corpus' tokenizer instead, "
        "which need not be the one the checkpoint was trained with (run.json records it under "
        "config.text.tokenizer; pass --tokenizer to choose)");
  }
  return checkpoint;
}

}  // namespace

void checkRunDirectory(const std::filesystem::path& out, bool force) {
  collector::checkRunDirectory(out, force);
}

ResolvedRun resolveRun(const RunOptions& options) {
  std::string presetName = options.preset;
  if (presetName.empty()) {
    presetName = defaultPresetName(options.workload.value_or(WorkloadKind::Lm));
  }
  RunOptions given = options;
  const bool fromCheckpoint = !options.checkpoint.empty();
  ResolvedRun run;
  if (fromCheckpoint) {
    CheckpointInfo checkpoint = checkpointModel(options, given, run);
    run.model = std::move(checkpoint.config);
    run.checkpointId = std::move(checkpoint.id);
  } else {
    run.model = findPreset(presetName);
  }
  run.options = given;
  run.options.preset = fromCheckpoint ? run.model.name : presetName;
  if (options.workload && *options.workload != run.model.workload) {
    throw InputError("--workload " + std::string(workloadName(*options.workload)) +
                     " does not match preset " + presetName + ", which is an " +
                     workloadName(run.model.workload) + " preset");
  }
  run.options.workload = run.model.workload;
  resolveShape(options, run, run.model);
  resolveRunControl(options, run.options);
  resolveOptimizations(run.options, run);
  resolveExpertParallel(run.options, run);
  text::checkTextInput(run.options.text, run.model.workload == WorkloadKind::Mt, run.model.vocab,
                       !options.tokensFile.empty());
  if (run.options.text.given() && run.tokenizerSource.empty()) {
    run.tokenizerSource = options.text.tokenizer.empty() ? "corpus" : "--tokenizer";
  }
  return run;
}

namespace {

nlohmann::json bufferingJson(const std::optional<BufferingConfig>& buffering) {
  if (!buffering) return "off";
  return {{"policy", buffering->policy},
          {"slots_per_layer", buffering->slotsPerLayer},
          {"scope", analysis::cacheScopeName(buffering->scope)},
          {"prefetch", prefetchModeName(buffering->prefetch)},
          {"tier", tierKindName(buffering->tier)},
          {"io_depth", buffering->ioDepth},
          {"read_ahead_buffers", buffering->readAheadBuffers}};
}

// The text input, with the tokenizer that was used and where it came from.
nlohmann::json textJson(const ResolvedRun& run) {
  nlohmann::json json = text::textInputJson(run.options.text);
  if (json.is_null()) return json;
  json["tokenizer"] =
      text::tokenizerFor(run.options.text, run.model.workload == WorkloadKind::Mt).string();
  json["tokenizer_source"] = run.tokenizerSource;
  return json;
}

}  // namespace

nlohmann::json configJson(const ResolvedRun& run) {
  const auto& m = run.model;
  const auto& o = run.options;
  return {
      {"workload", workloadName(m.workload)},
      {"preset", m.name},
      {"moe", m.moe},
      {"gating", m.moe ? gatingName(o.gating) : "none"},
      {"capacity_factor", m.capacityFactor},
      {"capacity_mode", capacityModeName(o.capacityMode)},
      {"slot_order", slotOrderName(o.slotOrder)},
      {"second_expert", secondExpertName(o.secondExpert)},
      {"model",
       {{"d_model", m.dModel},
        {"ffn_dim", m.ffnDim},
        {"heads", m.heads},
        {"vocab", m.vocab},
        {"layers", m.layers},
        {"experts", m.numExperts},
        {"top_k", m.topK},
        {"moe_every", m.moeEvery},
        {"moe_layers", m.moeLayerCount()},
        {"parameters", m.parameterCount()}}},
      {"batch", run.batch},
      {"seq_len", run.seqLen},
      {"decode_steps", run.decodeSteps},
      {"decode", m.workload == WorkloadKind::Mt ? o.decode : "none"},
      {"generate_tokens", o.generateTokens},
      {"repeats", o.repeats},
      {"warmup", o.warmup},
      {"seed", o.seed},
      {"device", o.device},
      {"threads", o.threads},
      {"allocator", o.cachingAllocator ? "caching" : "system"},
      {"trace", traceLevelName(o.trace)},
      {"tokens_file", o.tokensFile.string()},
      {"text", textJson(run)},
      {"buffering", bufferingJson(run.buffering)},
      {"ranks", o.ranks},
      {"placement", m.moe ? o.placement : "none"},
      {"placement_history", o.placementHistory.string()},
      {"checkpoint", o.checkpoint.empty() ? nlohmann::json(nullptr)
                                          : nlohmann::json{{"path", o.checkpoint.string()},
                                                           {"id", run.checkpointId}}},
  };
}

TraceLevel parseTraceLevel(const std::string& text) {
  if (text == "off") return TraceLevel::Off;
  if (text == "ops") return TraceLevel::Ops;
  if (text == "full") return TraceLevel::Full;
  throw InputError("--trace '" + text + "' is not one of: off, ops, full");
}

const char* traceLevelName(TraceLevel level) {
  switch (level) {
    case TraceLevel::Off:
      return "off";
    case TraceLevel::Ops:
      return "ops";
    case TraceLevel::Full:
      return "full";
  }
  return "off";
}

kernels::CapacityMode parseCapacityMode(const std::string& text) {
  if (text == "eval") return kernels::CapacityMode::Eval;
  if (text == "train") return kernels::CapacityMode::Train;
  throw InputError("--capacity-mode '" + text + "' is not one of: eval, train");
}

const char* capacityModeName(kernels::CapacityMode mode) {
  return mode == kernels::CapacityMode::Eval ? "eval" : "train";
}

kernels::SlotOrder parseSlotOrder(const std::string& text) {
  if (text == "token") return kernels::SlotOrder::Token;
  if (text == "batch-prioritized") return kernels::SlotOrder::BatchPrioritized;
  throw InputError("--slot-order '" + text + "' is not one of: token, batch-prioritized");
}

const char* slotOrderName(kernels::SlotOrder order) {
  return order == kernels::SlotOrder::Token ? "token" : "batch-prioritized";
}

kernels::SecondExpert parseSecondExpert(const std::string& text) {
  if (text == "all") return kernels::SecondExpert::All;
  if (text == "sampling") return kernels::SecondExpert::Sampling;
  throw InputError("--second-expert '" + text + "' is not one of: all, sampling");
}

const char* secondExpertName(kernels::SecondExpert policy) {
  return policy == kernels::SecondExpert::All ? "all" : "sampling";
}

}  // namespace moeprof::workloads
