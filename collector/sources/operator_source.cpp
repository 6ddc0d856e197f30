#include "collector/sources/operator_source.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <ATen/record_function.h>

#include "collector/trace_events.h"
#include "collector/trace_sink.h"

namespace moeprof::collector {

namespace {

// A thread hands its finished operators to the sink in batches: one sink call (one lock of the
// writer's queue) per batch instead of per operator, and at least every kHandOverNs so that a
// killed run loses no more than the trace store's flush interval allows.
constexpr size_t kHandOverEvents = 512;
constexpr int64_t kHandOverNs = 100'000'000;
// Each thread takes correlation ids in blocks, so that ids stay unique without every operator
// touching one shared counter.
constexpr uint64_t kCorrelationIdBlock = 4096;

// LibTorch's callbacks are plain function pointers: the active source has to be process-wide.
std::atomic<TraceSink*> activeSink{nullptr};
std::atomic<OperatorObserver*> activeObserver{nullptr};
std::atomic<uint64_t> nextCorrelationBlock{1};

struct OpenOperator {
  int64_t startNs;
  uint64_t correlationId;
  bool observed;  // the observer saw the start, so it is owed the end
};

// One thread's operators: the open ones (a stack: operators nest per thread) and the finished
// ones not yet handed over. The mutex is only ever contended when the source stops and drains
// every thread's batch.
struct ThreadOperators {
  std::vector<OpenOperator> open;
  std::mutex mutex;
  std::vector<OperatorEvent> finished;
  int64_t handedOverNs = 0;
  uint64_t nextCorrelationId = 0;
  uint64_t lastCorrelationId = 0;

  ThreadOperators();
  ~ThreadOperators();
  void handOver(TraceSink* sink);  // mutex held
};

// Every thread's batch, so that the source can drain them all when it stops.
std::mutex registryMutex;
std::vector<ThreadOperators*> registry;

ThreadOperators::ThreadOperators() {
  open.reserve(64);
  finished.reserve(kHandOverEvents);
  std::lock_guard lock(registryMutex);
  registry.push_back(this);
}

ThreadOperators::~ThreadOperators() {
  {
    std::lock_guard lock(registryMutex);
    registry.erase(std::find(registry.begin(), registry.end(), this));
  }
  std::lock_guard lock(mutex);
  handOver(activeSink.load(std::memory_order_acquire));
}

void ThreadOperators::handOver(TraceSink* sink) {
  if (finished.empty()) return;
  std::vector<OperatorEvent> batch;
  batch.reserve(kHandOverEvents);
  batch.swap(finished);
  if (sink == nullptr) return;
  try {
    sink->append(std::move(batch));
  } catch (const std::exception&) {
    // Operator ends may run in noexcept code; the sink keeps the error for its owner.
  }
}

ThreadOperators& threadOperators() {
  thread_local ThreadOperators operators;
  return operators;
}

uint64_t takeCorrelationId(ThreadOperators& thread) {
  if (thread.nextCorrelationId == thread.lastCorrelationId) {
    thread.nextCorrelationId = nextCorrelationBlock.fetch_add(kCorrelationIdBlock);
    thread.lastCorrelationId = thread.nextCorrelationId + kCorrelationIdBlock;
  }
  return thread.nextCorrelationId++;
}

std::unique_ptr<at::ObserverContext> onOperatorStart(const at::RecordFunction&) {
  ThreadOperators& thread = threadOperators();
  uint64_t correlationId = takeCorrelationId(thread);
  bool observed = false;
  if (OperatorObserver* observer = activeObserver.load(std::memory_order_acquire)) {
    observer->operatorStarted(correlationId);
    observed = true;
  }
  thread.open.push_back({traceClockNs(), correlationId, observed});
  return nullptr;  // the start lives on the thread's stack: no allocation per operator
}

void onOperatorEnd(const at::RecordFunction& fn, at::ObserverContext*) {
  int64_t endNs = traceClockNs();
  ThreadOperators& thread = threadOperators();
  if (thread.open.empty()) return;  // started before this source was active
  OpenOperator start = thread.open.back();
  thread.open.pop_back();
  if (start.observed) {
    if (OperatorObserver* observer = activeObserver.load(std::memory_order_acquire)) {
      observer->operatorEnded(start.correlationId);
    }
  }
  TraceSink* sink = activeSink.load(std::memory_order_acquire);
  if (sink == nullptr) return;
  std::lock_guard lock(thread.mutex);
  thread.finished.push_back({start.startNs, endNs, traceThreadId(), fn.name(), fn.seqNr(),
                             static_cast<int32_t>(thread.open.size()), start.correlationId});
  if (thread.finished.size() >= kHandOverEvents || endNs - thread.handedOverNs >= kHandOverNs) {
    thread.handOver(sink);
    thread.handedOverNs = endNs;
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
  TraceSink* sink = activeSink.load(std::memory_order_acquire);
  {
    std::lock_guard registryLock(registryMutex);
    for (ThreadOperators* thread : registry) {
      std::lock_guard lock(thread->mutex);
      thread->handOver(sink);
    }
  }
  activeSink.store(nullptr, std::memory_order_release);
}

}  // namespace moeprof::collector
