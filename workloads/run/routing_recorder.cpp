#include "workloads/run/routing_recorder.h"

#include <ATen/ATen.h>

#include "collector/trace_events.h"
#include "collector/trace_sink.h"

namespace moeprof::workloads {

collector::RoutingLogHeader RoutingRecorder::headerFor(const ModelConfig& model) {
  collector::RoutingLogHeader header;
  header.model = model.name;
  header.numExperts = static_cast<uint32_t>(model.numExperts);
  header.topK = static_cast<uint32_t>(model.topK);
  const bool mt = model.workload == WorkloadKind::Mt;
  for (int64_t stack = 0; stack < model.stacks(); ++stack) {
    auto kind =
        !mt ? collector::LayerStack::Lm
            : (stack == 0 ? collector::LayerStack::Encoder : collector::LayerStack::Decoder);
    for (int64_t block = 0; block < model.layers; ++block) {
      if (model.isMoeBlock(block)) header.layers.push_back({kind, static_cast<uint32_t>(block)});
    }
  }
  return header;
}

RoutingRecorder::RoutingRecorder(const std::filesystem::path& path, const ModelConfig& model)
    : writer_(path, headerFor(model)), numExperts_(model.numExperts) {}

collector::RoutingEvent RoutingRecorder::summarize(const collector::RoutingRecord& record) const {
  collector::RoutingEvent event;
  event.timestampNs = collector::traceClockNs();
  event.batch = record.batch;
  event.moeLayer = record.moeLayer;
  event.step = record.step;
  event.tokens = record.numTokens;
  event.tokensPerExpert.assign(numExperts_, 0);
  for (uint16_t id : record.experts) ++event.tokensPerExpert[id & ~collector::kDroppedFlag];
  return event;
}

void RoutingRecorder::onRouting(int64_t moeLayer, const kernels::TopKGating& gating,
                                const at::Tensor& kept) {
  auto ids = gating.expertIds.to(at::kCPU).contiguous();
  auto weights = gating.gateWeights.to(at::kCPU, at::kFloat).contiguous();
  at::Tensor keptCpu = kept.defined() ? kept.to(at::kCPU).contiguous() : at::Tensor();

  collector::RoutingRecord record;
  record.batch = batch_;
  record.moeLayer = static_cast<uint32_t>(moeLayer);
  record.step = step_;
  record.numTokens = static_cast<uint32_t>(ids.size(0));
  const int64_t n = ids.numel();
  record.experts.resize(n);
  record.gateWeights.assign(weights.data_ptr<float>(), weights.data_ptr<float>() + n);
  const int64_t* idData = ids.data_ptr<int64_t>();
  const bool* keptData = keptCpu.defined() ? keptCpu.data_ptr<bool>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    auto id = static_cast<uint16_t>(idData[i]);
    record.experts[i] = keptData && !keptData[i] ? (id | collector::kDroppedFlag) : id;
  }
  if (trace_) trace_->append(summarize(record));
  writer_.append(record);
}

}  // namespace moeprof::workloads
