#include "collector/operator_source.h"

#include <atomic>
#include <stdexcept>

#include <ATen/record_function.h>

#include "collector/trace_events.h"
#include "collector/trace_sink.h"

namespace moeprof::collector {

namespace {

// LibTorch's callbacks are plain function pointers: the active sink has to be process-wide.
std::atomic<TraceSink*> activeSink{nullptr};
std::atomic<OperatorObserver*> activeObserver{nullptr};
std::atomic<uint64_t> nextCorrelationId{1};
thread_local int32_t operatorDepth = 0;

struct OperatorStart : at::ObserverContext {
  int64_t startNs = 0;
  int32_t depth = 0;
  uint64_t correlationId = 0;
  bool observed = false;  // the observer saw the start, so it is owed the end
};

std::unique_ptr<at::ObserverContext> onOperatorStart(const at::RecordFunction&) {
  auto start = std::make_unique<OperatorStart>();
  start->depth = operatorDepth++;
  start->correlationId = nextCorrelationId.fetch_add(1, std::memory_order_relaxed);
  if (OperatorObserver* observer = activeObserver.load(std::memory_order_acquire)) {
    observer->operatorStarted(start->correlationId);
    start->observed = true;
  }
  start->startNs = traceClockNs();
  return start;
}

void onOperatorEnd(const at::RecordFunction& fn, at::ObserverContext* context) {
  int64_t endNs = traceClockNs();
  auto* start = static_cast<OperatorStart*>(context);
  --operatorDepth;
  if (start && start->observed) {
    if (OperatorObserver* observer = activeObserver.load(std::memory_order_acquire)) {
      observer->operatorEnded(start->correlationId);
    }
  }
  TraceSink* sink = activeSink.load(std::memory_order_acquire);
  if (!sink || !start) return;
  try {
    sink->append(OperatorEvent{start->startNs, endNs, traceThreadId(), fn.name(), fn.seqNr(),
                            start->depth, start->correlationId});
  } catch (const std::exception&) {
    // Operator ends may run in noexcept code; the sink keeps the error for close().
  }
}

}  // namespace

OperatorSource::OperatorSource(TraceSink& sink, OperatorObserver* observer) {
  TraceSink* expected = nullptr;
  if (!activeSink.compare_exchange_strong(expected, &sink)) {
    throw std::logic_error("an OperatorSource is already recording in this process");
  }
  activeObserver.store(observer, std::memory_order_release);
  handle_ = at::addGlobalCallback(
      at::RecordFunctionCallback(&onOperatorStart, &onOperatorEnd).needsInputs(false));
}

OperatorSource::~OperatorSource() {
  at::removeCallback(handle_);
  activeObserver.store(nullptr, std::memory_order_release);
  activeSink.store(nullptr, std::memory_order_release);
}

}  // namespace moeprof::collector
