#pragma once
// Expert Buffering, live (Huang et al., Expert Buffering): MoE layers compute from a bounded set of
// fast slots, and experts that are not resident come in from the slow tier (an ExpertFile read
// into RAM, or on a GPU a copy from pinned host memory into device memory, on an I/O thread; see
// workloads/buffering/expert_tier.h) when a layer needs them or, with prefetching, one layer ahead.
// Which expert leaves a full cache is decided by the same ExpertCache and policies `moeprof
// simulate` replays (DESIGN.md: policies are written once), so a run without prefetching makes
// exactly the decisions the replay of its routing log makes.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "workloads/buffering/buffering_config.h"
#include "workloads/buffering/expert_file.h"
#include "workloads/buffering/expert_tier.h"
#include "workloads/model/moe_layer.h"

namespace moeprof::collector {
class TraceSink;
}

namespace moeprof::workloads {

// One MoE layer call: its layer and the experts it ran (ascending). A run's calls in execution
// order are what Belady's MIN and the oracle prefetcher need to know in advance.
struct LayerCall {
  uint32_t moeLayer = 0;
  std::vector<uint32_t> experts;
  bool operator==(const LayerCall&) const = default;
};

// An ExpertSource over resident weights that writes down every call: the recording pass.
class LayerCallRecorder final : public ExpertSource {
 public:
  explicit LayerCallRecorder(std::vector<const kernels::ExpertWeights*> layers)
      : layers_(std::move(layers)) {}
  void beginLayer(int64_t moeLayer, const std::vector<int64_t>& experts,
                  const at::Tensor& input) override;
  kernels::ExpertView expert(int64_t expert) override;
  void endLayer() override {}
  std::vector<LayerCall> takeCalls() { return std::move(calls_); }

 private:
  std::vector<const kernels::ExpertWeights*> layers_;
  std::vector<LayerCall> calls_;
  uint32_t layer_ = 0;
};

// What the store needs to know about the model besides its experts.
struct StoreModel {
  std::vector<at::Tensor> routers;     // per MoE layer, (d_model, E); for pre-gating
  std::vector<uint32_t> nextMoeLayer;  // the MoE layer that runs after each one
  int64_t topK = 2;
  // On an expert-parallel rank the store holds the rank's experts under local ids: per MoE
  // layer, the local id of each global expert, or -1 when it lives on another rank. Empty: the
  // store holds every expert under its own id.
  std::vector<std::vector<int32_t>> localExpert;
  // Per MoE layer, its trained pre-gate (MoeLayerWeights::pregate), which pre-gating uses
  // instead of the next layer's router where defined. Empty or undefined: none.
  std::vector<at::Tensor> pregates;
};

// Makes the tier a store runs on, over the store's expert file (tests put their own in).
using ExpertTierFactory = std::function<std::unique_ptr<ExpertTier>(const ExpertFile&)>;

class ExpertStore final : public ExpertSource {
 public:
  // `calls` is the run's future (from a recording pass); needed for belady and oracle only.
  // The tier is config.tier's (makeExpertTier) unless `makeTier` is given.
  ExpertStore(const BufferingConfig& config, ExpertFile file, StoreModel model,
              std::vector<LayerCall> calls, const ExpertTierFactory& makeTier = {});
  ~ExpertStore() override;
  ExpertStore(const ExpertStore&) = delete;
  ExpertStore& operator=(const ExpertStore&) = delete;

  void beginLayer(int64_t moeLayer, const std::vector<int64_t>& experts,
                  const at::Tensor& input) override;
  kernels::ExpertView expert(int64_t expert) override;
  void endLayer() override;

  // The batch the coming calls belong to; negative (warm-up) fills the cache without counting.
  void setBatch(int64_t batch);
  // Cache and transfer events go to `trace` (null: none). Set before the run, cleared after.
  void setTrace(collector::TraceSink* trace);

  // All slots, full or not, and the read-ahead buffers (which hold experts on their way in).
  int64_t residentExpertBytes() const;
  int64_t readAheadBytes() const;
  // Counts of the measured batches, for run.json ("buffering" metrics).
  nlohmann::json metricsJson() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace moeprof::workloads
