#pragma once
// `moeprof train`: trains the LM or MT workload model on the cached real-text corpus with
// top-2 routing, the GShard/fairseq load-balancing loss and AdamW, checkpointing periodically
// (weights, optimizer state, progress) so that --resume continues exactly where it stopped, and
// optionally trains Pre-gated MoE gates afterwards. The result is a checkpoint directory
// (workloads/checkpoints/checkpoint.h) with the corpus tokenizer and train.json beside it.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "workloads/model/model_config.h"

namespace moeprof::workloads::training {

inline constexpr const char* kTrainReportName = "train.json";
inline constexpr const char* kTrainStateName = "train_state.json";
inline constexpr const char* kOptimizerStateName = "optimizer.safetensors";
inline constexpr const char* kCheckpointTokenizerName = "tokenizer.model";
inline constexpr int kTrainSchemaVersion = 1;
// The weight of the load-balancing loss. GShard and fairseq use 0.01 for long trainings; in our
// 300-step default LM training 0.01 left 64% of the experts without a validation token
// (perplexity 165.0), 0.1 left 32% (perplexity 143.5): the routers start near uniform, where
// the loss is near 1 whatever they choose, and a weak weight lets a few experts win early.
inline constexpr double kDefaultBalanceWeight = 0.1;

struct TrainOptions {
  WorkloadKind workload = WorkloadKind::Lm;
  std::string size = "default";  // default (the presets' E, k, layers, d_model) or micro
  std::optional<int64_t> steps, batch;
  std::optional<double> lr;
  std::optional<double> balanceWeight;  // of the load-balancing loss; default: the size's
  uint64_t seed = 1;
  std::filesystem::path out;         // empty: defaultModelDirectory()
  std::filesystem::path corpus;      // empty: the default corpus, built when missing
  bool resume = false;               // continue the checkpoint in `out` (must exist)
  bool resumeIfPossible = false;     // continue when there is one, else start (reproduce)
  std::optional<int64_t> stopAfter;  // save and stop after this step (train in pieces)
  bool pregates = false;
  int64_t threads = 0;  // 0: one per core
};

// The model and schedule a training run uses; vocab from the corpus tokenizer.
struct TrainPlan {
  ModelConfig model;
  int64_t steps = 0, batch = 0, seqLen = 0;
  double lr = 0;
  int64_t warmupSteps = 0;
  int64_t checkpointEvery = 0;
  int64_t validBatches = 0;
  int64_t pregateSteps = 0;
  double balanceWeight = kDefaultBalanceWeight;
};

// Checks the options that do not need the corpus. InputError naming the value otherwise.
void checkTrainOptions(const TrainOptions& options);
TrainPlan planTraining(const TrainOptions& options, int64_t vocab);

// $MOEPROF_CACHE_DIR/models/<lm|mt>-<size> (else ~/.cache/moeprof/models/...).
std::filesystem::path defaultModelDirectory(WorkloadKind workload, const std::string& size);
std::filesystem::path resolvedTrainDirectory(const TrainOptions& options);

// Whether `dir` holds a finished training of these options (train.json agrees with them).
bool trainedModelMatches(const std::filesystem::path& dir, const TrainOptions& options);

struct TrainOutcome {
  std::filesystem::path dir;
  nlohmann::json report;  // train.json
  bool reused = false;    // nothing was trained: the finished model was there already
  bool stopped = false;   // --stop-after ended it early; no train.json yet
};

// A warning to print before training with `threads` (0: one per core) when the cores are busy
// and libgomp's threads would spin while waiting (OMP_WAIT_POLICY not PASSIVE); "" otherwise.
std::string spinningThreadsWarning(int64_t threads);

using TrainProgress = std::function<void(const std::string&)>;
TrainOutcome trainModel(const TrainOptions& options, const TrainProgress& progress = {});

}  // namespace moeprof::workloads::training
