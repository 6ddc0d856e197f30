#pragma once
// Writes every routing decision of the measured batches to the run's routing log.
#include <cstdint>
#include <filesystem>
#include <optional>

#include "collector/routing_log.h"
#include "collector/trace_events.h"
#include "workloads/model/model_config.h"
#include "workloads/model/moe_layer.h"

namespace moeprof::collector {
class TraceSink;
}

namespace moeprof::workloads {

class RoutingRecorder : public RoutingObserver {
 public:
  RoutingRecorder(const std::filesystem::path& path, const ModelConfig& model);

  void setPosition(uint32_t batch, uint32_t step) {
    batch_ = batch;
    step_ = step;
  }
  void onRouting(int64_t moeLayer, const kernels::TopKGating& gating,
                 const at::Tensor& kept) override;
  void flush() { writer_.flush(); }
  // Also records a per-layer summary (tokens per expert) of every decision in a trace.
  void setTrace(collector::TraceSink* trace) { trace_ = trace; }

  // The log's header for a model: its MoE layers in the order the models number them.
  static collector::RoutingLogHeader headerFor(const ModelConfig& model);

 private:
  collector::RoutingEvent summarize(const collector::RoutingRecord& record) const;

  collector::RoutingLogWriter writer_;
  collector::TraceSink* trace_ = nullptr;
  int64_t numExperts_;
  uint32_t batch_ = 0;
  uint32_t step_ = 0;
};

}  // namespace moeprof::workloads
