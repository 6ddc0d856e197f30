#pragma once
// The LM and MT workload models behind one interface for the trainer: the training loss of a
// batch (teacher forcing for MT), parameters, MoE layers and saving. The forward passes are the
// workloads' own (LmModel::forward, MtModel::encode and decode), with dynamic gating.
#include <filesystem>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "workloads/model/models.h"
#include "workloads/training/train_data.h"

namespace moeprof::workloads::training {

class TrainableModel {
 public:
  virtual ~TrainableModel() = default;
  // Summed cross-entropy over the batch's target tokens (padding ignored).
  virtual at::Tensor lossSum(const TokenBatch& batch, ForwardContext& context) const = 0;
  virtual std::vector<NamedParameter> namedParameters() const = 0;
  virtual std::vector<MoeLayerWeights*> moeLayers() = 0;
  virtual const ModelConfig& config() const = 0;
  virtual void addPregates() = 0;
  virtual void save(const std::filesystem::path& dir) const = 0;
};

// A fresh model of `config` with seeded random weights, or the checkpoint in `dir`.
std::unique_ptr<TrainableModel> newTrainableModel(const ModelConfig& config, uint64_t seed);
std::unique_ptr<TrainableModel> loadTrainableModel(const std::filesystem::path& dir,
                                                   WorkloadKind workload);

// The GShard / fairseq load-balancing loss of one MoE call: E * sum_e f_e * P_e, f_e the share
// of tokens whose first choice is e, P_e the mean router probability of e. 1 when balanced.
at::Tensor balanceLoss(const MoeLayerTrace& trace);

}  // namespace moeprof::workloads::training
