#include "workloads/training/trainable_model.h"

#include <ATen/ATen.h>

#include "workloads/checkpoints/checkpoint.h"

namespace moeprof::workloads::training {

namespace {

at::Tensor crossEntropySum(const at::Tensor& logits, const at::Tensor& target) {
  return at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), target.reshape({-1}), {},
                                at::Reduction::Sum, kIgnoredTarget);
}

template <typename Model>
class ModelAdapter : public TrainableModel {
 public:
  explicit ModelAdapter(Model model) : model_(std::move(model)) {}
  at::Tensor lossSum(const TokenBatch& batch, ForwardContext& context) const override;
  std::vector<NamedParameter> namedParameters() const override { return model_.namedParameters(); }
  std::vector<MoeLayerWeights*> moeLayers() override { return model_.moeLayers(); }
  const ModelConfig& config() const override { return model_.config(); }
  void addPregates() override { model_.addPregates(); }
  void save(const std::filesystem::path& dir) const override {
    at::NoGradGuard noGrad;
    saveCheckpoint(model_, dir);
  }

 private:
  Model model_;
};

template <>
at::Tensor ModelAdapter<LmModel>::lossSum(const TokenBatch& batch, ForwardContext& context) const {
  return crossEntropySum(model_.forward(batch.input, context), batch.target);
}

template <>
at::Tensor ModelAdapter<MtModel>::lossSum(const TokenBatch& batch, ForwardContext& context) const {
  auto encoderOut = model_.encode(batch.source, context);
  return crossEntropySum(model_.decode(batch.input, encoderOut, context), batch.target);
}

}  // namespace

std::unique_ptr<TrainableModel> newTrainableModel(const ModelConfig& config, uint64_t seed) {
  if (config.workload == WorkloadKind::Lm) {
    return std::make_unique<ModelAdapter<LmModel>>(LmModel(config, seed, at::kCPU));
  }
  return std::make_unique<ModelAdapter<MtModel>>(MtModel(config, seed, at::kCPU));
}

std::unique_ptr<TrainableModel> loadTrainableModel(const std::filesystem::path& dir,
                                                   WorkloadKind workload) {
  if (workload == WorkloadKind::Lm) {
    return std::make_unique<ModelAdapter<LmModel>>(loadLmModel(dir));
  }
  return std::make_unique<ModelAdapter<MtModel>>(loadMtModel(dir));
}

at::Tensor balanceLoss(const MoeLayerTrace& trace) {
  const auto& probs = trace.gating.probs;  // (S, E)
  const int64_t experts = probs.size(1);
  auto first = trace.gating.expertIds.select(1, 0);
  auto share = at::bincount(first, {}, experts).to(probs.scalar_type()) /
               static_cast<double>(std::max<int64_t>(1, probs.size(0)));
  return (share * probs.mean(0)).sum() * static_cast<double>(experts);
}

}  // namespace moeprof::workloads::training
