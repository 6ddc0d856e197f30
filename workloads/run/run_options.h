#pragma once
// What one `moeprof run` measures, as the user asked for it, and its resolution against the
// preset (defaults filled in, every value checked against its allowed range).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/placement.h"
#include "kernels/capacity.h"
#include "kernels/gating.h"
#include "kernels/static_dispatch.h"
#include "workloads/buffering/buffering_config.h"
#include "workloads/model/gating_mode.h"
#include "workloads/model/model_config.h"
#include "workloads/parallel/rank_environment.h"
#include "workloads/text/text_input.h"

namespace moeprof::workloads {

// What a run records besides its metrics and routing log: nothing, LibTorch operators with the
// phase ranges and routing summaries, or also every allocation and free (and, on a GPU, CUPTI
// activity once that source exists).
enum class TraceLevel { Off, Ops, Full };
TraceLevel parseTraceLevel(const std::string& text);
const char* traceLevelName(TraceLevel level);

struct RunOptions {
  std::optional<WorkloadKind> workload;  // implied by the preset when not given
  std::string preset;                    // empty: lm-cpu or mt-cpu
  std::filesystem::path checkpoint;      // a checkpoint directory instead of a preset's weights
  GatingMode gating = GatingMode::Dynamic;
  std::optional<double> capacityFactor;  // empty: the preset's
  kernels::CapacityMode capacityMode = kernels::CapacityMode::Eval;
  kernels::SlotOrder slotOrder = kernels::SlotOrder::Token;         // static gating's drops
  kernels::SecondExpert secondExpert = kernels::SecondExpert::All;  // fairseq's policy
  std::optional<int64_t> topK;                                      // empty: the preset's
  std::optional<int64_t> batch;                                     // empty: the preset's
  std::optional<int64_t> seqLen;       // empty: the preset's (LM tokens / MT source tokens)
  std::optional<int64_t> decodeSteps;  // MT; empty: the preset's
  // MT decoder input: "greedy" (its own argmax) or "reference" (teacher forcing with the
  // references of --lang, still one token per step: the routing of real target text where a
  // small model's greedy output would repeat one token).
  std::string decode = "greedy";
  int64_t generateTokens = 0;  // LM greedy generation after the forward
  int64_t repeats = 3;         // measured batches
  int64_t warmup = 1;          // unmeasured batches before them
  uint64_t seed = 1;
  std::string device = "cpu";
  int64_t threads = 0;               // 0: one per core
  std::filesystem::path tokensFile;  // empty: seeded random tokens
  text::TextInput text;              // real text (--text, --domain, --lang) instead
  std::filesystem::path out;
  bool cachingAllocator = true;  // false: LibTorch's default CPU allocator
  TraceLevel trace = TraceLevel::Off;
  bool force = false;              // allow replacing an existing run directory
  bool ignoreMemoryCheck = false;  // run even when the memory estimate exceeds what is available
  // Expert Buffering, as given: "off" or an eviction policy, and its settings (empty: default).
  std::string buffering = "off";
  std::optional<int64_t> cacheSlots;  // per layer; default: E/4, at least top-k
  std::optional<std::string> cacheScope;
  std::optional<std::string> prefetch;
  std::optional<int64_t> ioDepth;    // reads in flight; default BufferingConfig::kDefaultIoDepth
  std::optional<int64_t> readAhead;  // read-ahead buffers; default kDefaultReadAheadBuffers
  // Expert parallelism (workloads/parallel/expert_parallel.h): ranks, which experts each holds, and
  // how long joining the other ranks may take.
  int64_t ranks = 1;
  std::string placement = "roundrobin";
  std::filesystem::path placementHistory;  // run directory or routing.bin; greedy, anticorr
  double rendezvousTimeoutS = 30;
};

// A run with everything decided: the model (overrides applied), the options as given, and
// the values the preset filled in.
struct ResolvedRun {
  ModelConfig model;
  RunOptions options;
  std::string checkpointId;  // config.json's, when options.checkpoint is given
  int64_t batch = 0;
  int64_t seqLen = 0;
  int64_t decodeSteps = 0;                   // 0 for LM
  std::optional<BufferingConfig> buffering;  // empty: every expert resident
  // Expert parallelism: one placement per MoE layer (empty for dense models), and for a rank
  // of a multi-rank run where it meets the others (set by the front end from the launcher's
  // environment, not by resolveRun).
  std::vector<analysis::Placement> placements;
  std::optional<Rendezvous> rendezvous;
  // Real text: where the tokenizer comes from ("--tokenizer", "checkpoint" or "corpus").
  std::string tokenizerSource;
  // What the user should know before the run starts (a checkpoint without its tokenizer);
  // front ends print them.
  std::vector<std::string> warnings;
};

// Throws InputError naming the bad value and the allowed range.
ResolvedRun resolveRun(const RunOptions& options);

// Throws InputError unless `out` can become a run directory (collector::checkRunDirectory:
// nothing yet, an empty directory, or with `force` an earlier run). resolveRun does not check
// it: front ends claim the directory (collector::RunDirectory) once everything else is valid.
void checkRunDirectory(const std::filesystem::path& out, bool force);

// The "config" section of run.json.
nlohmann::json configJson(const ResolvedRun& run);

kernels::CapacityMode parseCapacityMode(const std::string& text);
const char* capacityModeName(kernels::CapacityMode mode);
// "token" / "batch-prioritized" and "all" / "sampling"; the parsers throw InputError naming the
// value and the allowed ones.
kernels::SlotOrder parseSlotOrder(const std::string& text);
const char* slotOrderName(kernels::SlotOrder order);
kernels::SecondExpert parseSecondExpert(const std::string& text);
const char* secondExpertName(kernels::SecondExpert policy);

}  // namespace moeprof::workloads
