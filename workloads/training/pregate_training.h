#pragma once
// Pre-gates (Pre-gated MoE, Hwang et al.): for each MoE layer N followed by MoE layer N+1 in the
// same stack, a linear gate on layer N's input that predicts layer N+1's top-k experts, so their
// weights can be fetched while layer N computes. Trained after the main training with the model
// frozen, starting from layer N+1's router (the training-free prediction), and judged against
// that prediction on validation batches.
#include <cstdint>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "workloads/training/train_data.h"
#include "workloads/training/trainable_model.h"
#include "workloads/training/trainer.h"

namespace moeprof::workloads::training {

// (N, N+1) indices into moeLayers() of consecutive MoE layers of one stack.
std::vector<std::pair<size_t, size_t>> pregatePairs(const ModelConfig& config);

// Recall of the true next-layer experts (|predicted top-k and true top-k| / k, over tokens and
// layer pairs) of the trained pre-gates (when the model has them) and of the training-free
// prediction (layer N+1's router on layer N's input): {"router_recall", "trained_recall" or
// null, "layer_pairs", "tokens"}.
nlohmann::json pregateAccuracy(TrainableModel& model, const std::vector<TokenBatch>& valid);

// Adds pre-gates to the model and trains them for plan.pregateSteps steps; returns
// {"steps", "final_loss", "mode"}.
nlohmann::json trainPregates(TrainableModel& model, const TrainingData& data, const TrainPlan& plan,
                             uint64_t seed, const TrainProgress& progress);

}  // namespace moeprof::workloads::training
