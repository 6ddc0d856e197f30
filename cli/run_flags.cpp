#include "cli/run_flags.h"

#include <charconv>
#include <limits>
#include <optional>

#include "cli/text_flags.h"
#include "collector/errors.h"

namespace moeprof::cli {

namespace {

// The value as an unsigned whole number (digits only), or nullopt.
std::optional<uint64_t> wholeNumber(const std::string& text) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end) return std::nullopt;
  return value;
}

}  // namespace

const CLI::Validator& seedValidator() {
  static const CLI::Validator validator(
      [](const std::string& value) -> std::string {
        if (wholeNumber(value)) return "";
        return "'" + value + "' is not a seed: allowed a whole number from 0 to " +
               std::to_string(std::numeric_limits<uint64_t>::max());
      },
      "SEED>=0");
  return validator;
}

const CLI::Validator& threadCountValidator() {
  static const CLI::Validator validator(
      [](const std::string& value) -> std::string {
        auto threads = wholeNumber(value);
        if (threads && *threads >= 1 && *threads <= 4096) return "";
        return "'" + value +
               "' is out of range: allowed 1..4096 threads (leave --threads out for one per "
               "core)";
      },
      "1..4096");
  return validator;
}

void RunFlags::addTo(CLI::App& app) {
  auto& o = options_;
  app.add_option("--workload", workload_, "lm (decoder-only LM) or mt (encoder-decoder MT)");
  app.add_option("--preset", o.preset,
                 "model preset (see `moeprof presets`); default lm-cpu/mt-cpu");
  app.add_option("--checkpoint", o.checkpoint,
                 "run a checkpoint's weights (a directory from `moeprof train` or "
                 "saveCheckpoint, or a Hugging Face one: nllb-moe, switch_transformers, "
                 "mixtral, olmoe, qwen2_moe); its config.json gives the model, so no --preset");
  capacityFactorOption_ = app.add_option("--capacity-factor", capacityFactor_,
                                         "static gating capacity factor; default: the preset's");
  app.add_option("--capacity-mode", capacityMode_,
                 "eval: C = ceil(CF*S) (fairseq eval, the paper); train: C = ceil(CF*k*ceil(S/E)) "
                 "(fairseq's training rule, 2*ceil(S/E) for top-2 at CF 1; fairseq's top-2 "
                 "ignores CF in training, moeprof scales by it)")
      ->capture_default_str();
  app.add_option("--slot-order", slotOrder_,
                 "static gating: the order tokens take capacity slots in, which decides which "
                 "drop: token (fairseq's default) or batch-prioritized (fairseq's "
                 "batch_prioritized_routing: highest top gate probability first)")
      ->capture_default_str();
  app.add_option("--second-expert", secondExpert_,
                 "how top-2 gating picks the second expert: all (deterministic, the next most "
                 "probable) or sampling (fairseq's default: Gumbel noise on the logits, seeded by "
                 "--seed, in evaluation too)")
      ->capture_default_str();
  topKOption_ = app.add_option("--top-k", topK_, "experts per token; default: the preset's");
  seqLenOption_ = app.add_option(
      "--seq-len", seqLen_, "LM tokens per sequence / MT source tokens; default: the preset's");
  decodeStepsOption_ = app.add_option("--decode-steps", decodeSteps_,
                                      "MT greedy decoding steps; default: the preset's");
  app.add_option("--decode", o.decode,
                 "MT decoder input per step: greedy (its own argmax) or reference (the "
                 "references of --lang, teacher-forced one token per step)")
      ->capture_default_str();
  app.add_option("--generate", o.generateTokens, "LM: greedy-generate N tokens after each batch");
  app.add_option("--repeats", o.repeats, "measured batches")->capture_default_str();
  app.add_option("--warmup", o.warmup, "unmeasured batches first")->capture_default_str();
  app.add_option("--seed", o.seed, "seed of weights and inputs")
      ->check(seedValidator())
      ->capture_default_str();
  app.add_option("--device", o.device, "cpu or cuda")->capture_default_str();
  app.add_option("--threads", o.threads, "LibTorch threads, 1..4096; default: one per core")
      ->check(threadCountValidator());
  app.add_option("--tokens", o.tokensFile,
                 "file of whitespace-separated token ids instead of random tokens");
  app.add_option("--allocator", allocator_,
                 "CPU allocator: caching (freed blocks reused, as CUDA's caching allocator does) "
                 "or system (LibTorch's default; pays page faults on every big temporary)")
      ->capture_default_str();
  app.add_option("--trace", trace_,
                 "off: metrics only; ops: also LibTorch operators, NVTX ranges (moeprof's phases "
                 "and any other NVTX user's) and routing summaries in trace.sqlite; full: also "
                 "every allocation and free and, with --device cuda, CUPTI kernels, copies, "
                 "memsets, device memory and CUDA API calls")
      ->capture_default_str();
  addBufferingTo(app);
  addTextFlagsTo(app, o.text);
  app.add_flag("--force", o.force,
               "replace an earlier run in the run directory (its moeprof files only; a "
               "non-empty directory without a run is never written into)");
  app.add_flag("--ignore-memory-check", o.ignoreMemoryCheck,
               "run even when the weights and largest activations are estimated to exceed the "
               "memory available (MemAvailable, a cgroup limit, or the GPU's memory); without "
               "it such a run is refused before anything is allocated or written");
}

void RunFlags::addBufferingTo(CLI::App& app) {
  app.add_option("--buffering", options_.buffering,
                 "Expert Buffering (needs --gating dynamic): off, or the eviction policy of the "
                 "expert slots: lifo (the paper's: inactive experts first, then last in, first "
                 "out), lru, lfu, fifo, belady (offline optimum; runs a recording pass first). "
                 "Experts then live in a file on disk (cached under $MOEPROF_CACHE_DIR or "
                 "~/.cache/moeprof) and are read into RAM slots with direct I/O; with "
                 "--device cuda they wait in pinned host memory (filled from that file) and "
                 "are copied into device slots on copy streams")
      ->capture_default_str();
  cacheSlotsOption_ = app.add_option("--cache-slots", cacheSlots_,
                                     "expert slots per MoE layer, top-k to E; default E/4");
  cacheScopeOption_ = app.add_option("--cache-scope", cacheScope_,
                                     "layer: slots per MoE layer (the paper's); global: one pool "
                                     "of slots x layers shared by all MoE layers")
                          ->capture_default_str();
  prefetchOption_ =
      app.add_option("--prefetch", prefetch_,
                     "fetch one MoE layer ahead: off (on demand), pregate (the next layer's "
                     "router on this layer's input), oracle (the experts the next layer really "
                     "uses; a recording pass first), all (every expert of the next layer)")
          ->capture_default_str();
  ioDepthOption_ = app.add_option("--io-depth", ioDepth_,
                                  "expert reads in flight at once (I/O threads; on cuda, copy "
                                  "streams), 1 to 64; "
                                  "adjacent experts are read with one request")
                       ->capture_default_str();
  readAheadOption_ =
      app.add_option("--read-ahead", readAhead_,
                     "read-ahead buffers (one expert each, counted as resident memory) that "
                     "misses are read into while their slot's expert has still to run, 0 to "
                     "1024; 0 reads every miss straight into its slot")
          ->capture_default_str();
}

workloads::RunOptions RunFlags::toRunOptions() const {
  workloads::RunOptions o = options_;
  if (!workload_.empty()) o.workload = parseWorkload(workload_);
  o.capacityMode = workloads::parseCapacityMode(capacityMode_);
  o.slotOrder = workloads::parseSlotOrder(slotOrder_);
  o.secondExpert = workloads::parseSecondExpert(secondExpert_);
  if (allocator_ != "caching" && allocator_ != "system") {
    throw InputError("--allocator '" + allocator_ + "' is not one of: caching, system");
  }
  o.cachingAllocator = allocator_ == "caching";
  o.trace = workloads::parseTraceLevel(trace_);
  if (capacityFactorOption_->count() > 0) o.capacityFactor = capacityFactor_;
  if (topKOption_->count() > 0) o.topK = topK_;
  if (seqLenOption_->count() > 0) o.seqLen = seqLen_;
  if (decodeStepsOption_->count() > 0) o.decodeSteps = decodeSteps_;
  if (cacheSlotsOption_->count() > 0) o.cacheSlots = cacheSlots_;
  if (cacheScopeOption_->count() > 0) o.cacheScope = cacheScope_;
  if (prefetchOption_->count() > 0) o.prefetch = prefetch_;
  if (ioDepthOption_->count() > 0) o.ioDepth = ioDepth_;
  if (readAheadOption_->count() > 0) o.readAhead = readAhead_;
  return o;
}

workloads::WorkloadKind parseWorkload(const std::string& text) {
  if (text == "lm") return workloads::WorkloadKind::Lm;
  if (text == "mt") return workloads::WorkloadKind::Mt;
  throw InputError("--workload '" + text + "' is not one of: lm, mt");
}

workloads::GatingMode parseGating(const std::string& text) {
  if (text == "static") return workloads::GatingMode::Static;
  if (text == "dynamic") return workloads::GatingMode::Dynamic;
  throw InputError("--gating '" + text + "' is not one of: static, dynamic");
}

}  // namespace moeprof::cli
