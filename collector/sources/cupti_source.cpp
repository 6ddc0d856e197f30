// The live CUPTI source (built when CMake finds CUPTI; cupti_source_none.cpp otherwise).
#include "collector/sources/cupti_source.h"

#include <cuda_runtime_api.h>
#include <cupti.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "collector/sources/cupti_records.h"
#include "collector/trace_events.h"
#include "collector/trace_sink.h"

namespace moeprof::collector {

namespace {

// CUPTI requires activity buffers aligned to 8 bytes.
constexpr size_t kBufferAlignment = 8;

std::string resultText(CUptiResult result) {
  const char* text = nullptr;
  if (cuptiGetResultString(result, &text) != CUPTI_SUCCESS || !text) {
    return "CUPTI error " + std::to_string(static_cast<int>(result));
  }
  return text;
}

struct EnabledKind {
  CUpti_ActivityKind kind;
  const char* name;
};

// CONCURRENT_KERNEL comes first: if CUPTI cannot trace kernels it cannot trace at all.
// KERNEL is never enabled: it serializes kernels.
constexpr EnabledKind kActivityKinds[] = {
    {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, "CONCURRENT_KERNEL"},
    {CUPTI_ACTIVITY_KIND_MEMCPY, "MEMCPY"},
    {CUPTI_ACTIVITY_KIND_MEMCPY2, "MEMCPY2"},
    {CUPTI_ACTIVITY_KIND_MEMSET, "MEMSET"},
    {CUPTI_ACTIVITY_KIND_MEMORY2, "MEMORY2"},
    {CUPTI_ACTIVITY_KIND_MARKER, "MARKER"},
    {CUPTI_ACTIVITY_KIND_RUNTIME, "RUNTIME"},
    {CUPTI_ACTIVITY_KIND_DRIVER, "DRIVER"},
    {CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION, "EXTERNAL_CORRELATION"},
    {CUPTI_ACTIVITY_KIND_OVERHEAD, "OVERHEAD"},
};

// Activity buffers lent to CUPTI and given back. A returned buffer is reused; one that CUPTI
// returns after its pool is gone is freed by the callback (see onBufferCompleted).
class BufferPool {
 public:
  BufferPool(size_t bufferBytes, int32_t maxBuffers, int32_t preallocated)
      : bufferBytes_(bufferBytes), maxBuffers_(maxBuffers) {
    for (int32_t i = 0; i < preallocated && i < maxBuffers; ++i) {
      if (uint8_t* buffer = allocate()) free_.push_back(buffer);
    }
  }
  ~BufferPool() {
    for (uint8_t* buffer : free_) std::free(buffer);
  }
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  size_t bufferBytes() const { return bufferBytes_; }

  // A free buffer, a new one while fewer than maxBuffers exist, else null (CUPTI then drops
  // records and counts them).
  uint8_t* acquire() {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      uint8_t* buffer = free_.back();
      free_.pop_back();
      return buffer;
    }
    return allocated_ < maxBuffers_ ? allocate() : nullptr;
  }

  void release(uint8_t* buffer, size_t bytes) {
    if (bytes != bufferBytes_) {  // lent by an earlier source with other options
      std::free(buffer);
      return;
    }
    std::lock_guard lock(mutex_);
    free_.push_back(buffer);
  }

 private:
  uint8_t* allocate() {
    auto* buffer = static_cast<uint8_t*>(std::aligned_alloc(kBufferAlignment, bufferBytes_));
    if (buffer) ++allocated_;
    return buffer;
  }

  const size_t bufferBytes_;
  const int32_t maxBuffers_;
  std::mutex mutex_;
  std::vector<uint8_t*> free_;
  int32_t allocated_ = 0;
};

std::string apiCallbackName(ApiEvent::Api api, uint32_t callbackId) {
  const char* name = nullptr;
  auto domain =
      api == ApiEvent::Api::Runtime ? CUPTI_CB_DOMAIN_RUNTIME_API : CUPTI_CB_DOMAIN_DRIVER_API;
  if (cuptiGetCallbackName(domain, callbackId, &name) != CUPTI_SUCCESS || !name) return {};
  return name;
}

bool nextCuptiRecord(uint8_t* buffer, size_t validBytes, const void** record) {
  auto* next = static_cast<CUpti_Activity*>(const_cast<void*>(*record));
  // CUPTI_ERROR_MAX_LIMIT_REACHED marks the end of the buffer.
  if (cuptiActivityGetNextRecord(buffer, validBytes, &next) != CUPTI_SUCCESS) return false;
  *record = next;
  return true;
}

uint64_t CUPTIAPI traceClockTimestamp() {
  return static_cast<uint64_t>(traceClockNs());
}

}  // namespace

// One collection: the buffers, the parser, the periodic flush and the counters.
struct CuptiSource::Impl {
  Impl(TraceSink& sink, const Options& options)
      : sink(sink),
        pool(static_cast<size_t>(options.bufferBytes), options.maxBuffers,
             options.preallocatedBuffers),
        parser(sink, &apiCallbackName),
        flushPeriod(std::chrono::milliseconds(options.flushPeriodMs)) {}

  std::string alignClock();
  void enable();
  void disable();
  void consume(CUcontext context, uint32_t streamId, uint8_t* buffer, size_t validBytes);
  void finish();

  TraceSink& sink;
  BufferPool pool;
  std::mutex parseMutex;
  CuptiRecordParser parser;  // guarded by parseMutex
  std::vector<CUpti_ActivityKind> enabledKinds;
  bool markerEnabled = false;
  std::atomic<int64_t> droppedRecords{0};
  std::atomic<int64_t> overheadNs{0};
  std::atomic<int64_t> bufferEvents{0};  // the collector's own OverheadEvents
  std::atomic<int64_t> sinkErrors{0};

  // CUPTI's own periodic flush hands over full buffers only; this thread also hands over
  // partly filled ones, so a run that is killed loses at most about one period.
  std::chrono::milliseconds flushPeriod;
  std::thread flusher;
  std::mutex flushMutex;
  std::condition_variable flushWake;
  bool stopFlushing = false;  // guarded by flushMutex
};

namespace {

// CUPTI's buffer callbacks are plain functions without a user pointer: the running collection
// is process-wide. Readers (the callbacks) share the lock; start() and stop() take it alone to
// attach and detach a collection, so none is destroyed while a callback uses it.
struct ActiveCollection {
  std::shared_mutex mutex;
  CuptiSource::Impl* impl = nullptr;
};

ActiveCollection& activeCollection() {
  static ActiveCollection active;
  return active;
}

void CUPTIAPI onBufferRequested(uint8_t** buffer, size_t* size, size_t* maxNumRecords) {
  *maxNumRecords = 0;  // as many as fit
  *buffer = nullptr;
  *size = 0;
  auto& active = activeCollection();
  std::shared_lock lock(active.mutex);
  if (!active.impl) return;
  *buffer = active.impl->pool.acquire();
  if (*buffer) *size = active.impl->pool.bufferBytes();
}

void CUPTIAPI onBufferCompleted(CUcontext context, uint32_t streamId, uint8_t* buffer, size_t size,
                                size_t validSize) {
  auto& active = activeCollection();
  std::shared_lock lock(active.mutex);
  if (!active.impl) {
    std::free(buffer);  // its collection has stopped; nothing to record it into
    return;
  }
  active.impl->consume(context, streamId, buffer, validSize);
  active.impl->pool.release(buffer, size);
}

}  // namespace

void CuptiSource::Impl::consume(CUcontext context, uint32_t streamId, uint8_t* buffer,
                                size_t validBytes) {
  int64_t beginNs = traceClockNs();
  {
    std::lock_guard lock(parseMutex);
    try {
      parser.parseBuffer(buffer, validBytes, &nextCuptiRecord);
    } catch (const std::exception&) {
      ++sinkErrors;  // the sink keeps its error for its owner; CUPTI's thread must not throw
    }
  }
  size_t dropped = 0;
  if (cuptiActivityGetNumDroppedRecords(context, streamId, &dropped) == CUPTI_SUCCESS) {
    droppedRecords += static_cast<int64_t>(dropped);
  }
  int64_t endNs = traceClockNs();
  overheadNs += endNs - beginNs;
  try {
    sink.append(OverheadEvent{beginNs, endNs, traceThreadId(), "collector.cupti_buffer"});
    ++bufferEvents;
  } catch (const std::exception&) {
    ++sinkErrors;
  }
}

// Puts CUPTI's timestamps on the trace clock; returns how (META gpu_clock_alignment).
std::string CuptiSource::Impl::alignClock() {
  // CUPTI asks us for every timestamp once the callback is registered; this must precede
  // enabling any kind. Where it cannot be registered, the offset is measured once.
  if (cuptiActivityRegisterTimestampCallback(&traceClockTimestamp) == CUPTI_SUCCESS) {
    parser.setClockOffsetNs(0);
    return "cupti_timestamp_callback";
  }
  uint64_t cuptiNs = 0;
  int64_t beforeNs = traceClockNs();
  CUptiResult result = cuptiGetTimestamp(&cuptiNs);
  int64_t afterNs = traceClockNs();
  if (result != CUPTI_SUCCESS) throw std::runtime_error("unavailable: " + resultText(result));
  parser.setClockOffsetNs(beforeNs + (afterNs - beforeNs) / 2 - static_cast<int64_t>(cuptiNs));
  return "measured_offset";
}

void CuptiSource::Impl::enable() {
  // Thread ids as gettid() reports them, the ids the other sources record.
  cuptiSetThreadIdType(CUPTI_ACTIVITY_THREAD_ID_TYPE_SYSTEM);
  std::string clockAlignment = alignClock();
  CUptiResult result = cuptiActivityRegisterCallbacks(&onBufferRequested, &onBufferCompleted);
  if (result != CUPTI_SUCCESS) {
    throw std::runtime_error("unavailable: cuptiActivityRegisterCallbacks: " + resultText(result));
  }
  std::string notEnabled;
  for (const EnabledKind& kind : kActivityKinds) {
    result = cuptiActivityEnable(kind.kind);
    if (result == CUPTI_SUCCESS) {
      enabledKinds.push_back(kind.kind);
      if (kind.kind == CUPTI_ACTIVITY_KIND_MARKER) markerEnabled = true;
    } else if (enabledKinds.empty()) {  // not even kernels: CUPTI cannot trace here
      throw std::runtime_error("unavailable: cuptiActivityEnable(" + std::string(kind.name) +
                               "): " + resultText(result));
    } else {
      notEnabled +=
          (notEnabled.empty() ? "" : ", ") + std::string(kind.name) + ": " + resultText(result);
    }
  }
  sink.setMeta("gpu_clock_alignment", clockAlignment);
  sink.setMeta("gpu_clock_offset_ns", std::to_string(parser.clockOffsetNs()));
  if (!notEnabled.empty()) sink.setMeta("cupti_kinds_not_enabled", notEnabled);
  flusher = std::thread([this] {
    std::unique_lock lock(flushMutex);
    while (!flushWake.wait_for(lock, flushPeriod, [this] { return stopFlushing; })) {
      lock.unlock();
      cuptiActivityFlushAll(0);
      lock.lock();
    }
  });
}

void CuptiSource::Impl::disable() {
  if (flusher.joinable()) {
    {
      std::lock_guard lock(flushMutex);
      stopFlushing = true;
    }
    flushWake.notify_all();
    flusher.join();
  }
  for (auto it = enabledKinds.rbegin(); it != enabledKinds.rend(); ++it) cuptiActivityDisable(*it);
  enabledKinds.clear();
  // Hands over every buffer, incomplete records included; this calls onBufferCompleted.
  cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
}

void CuptiSource::Impl::finish() {
  size_t dropped = 0;
  if (cuptiActivityGetNumDroppedRecords(nullptr, 0, &dropped) == CUPTI_SUCCESS) {
    droppedRecords += static_cast<int64_t>(dropped);
  }
  std::lock_guard lock(parseMutex);
  const auto& c = parser.counters();
  try {
    sink.setMeta("cupti_records",
                 "records=" + std::to_string(c.records) +
                     " unknown=" + std::to_string(c.unknownRecords) +
                     " ignored=" + std::to_string(c.ignoredRecords) +
                     " unmatched_range_ends=" + std::to_string(c.unmatchedRangeEnds) +
                     " unmatched_releases=" + std::to_string(c.unmatchedReleases) +
                     " open_ranges=" + std::to_string(parser.openRanges()) +
                     " sink_errors=" + std::to_string(sinkErrors.load()));
    sink.append(SourceStats{"cupti", c.events + bufferEvents.load(), droppedRecords.load(),
                            overheadNs.load()});
  } catch (const std::exception&) {
    // The sink keeps its error for its owner; stop() runs from destructors.
  }
}

CuptiSource::Availability CuptiSource::availability() {
  int devices = 0;
  cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess) {
    return {false, std::string("unavailable: no CUDA device (") + cudaGetErrorString(status) + ")"};
  }
  if (devices == 0) return {false, "unavailable: no CUDA device"};
  uint32_t version = 0;
  CUptiResult result = cuptiGetVersion(&version);
  if (result != CUPTI_SUCCESS)
    return {false, "unavailable: cuptiGetVersion: " + resultText(result)};
  if (version < CUPTI_API_VERSION) {  // its records would be older than the ones parsed here
    return {false, "unavailable: libcupti API version " + std::to_string(version) +
                       " is older than the headers moeprof was built with (" +
                       std::to_string(CUPTI_API_VERSION) + ")"};
  }
  return {true, ""};
}

CuptiSource::CuptiSource() : CuptiSource(Options{}) {}

CuptiSource::CuptiSource(Options options) : options_(options) {}

CuptiSource::~CuptiSource() {
  stop();
}

void CuptiSource::start(TraceSink& sink) {
  if (impl_) throw std::logic_error("this CuptiSource is already running");
  Availability available = availability();
  if (!available.available) throw std::runtime_error(available.reason);
  auto impl = std::make_unique<Impl>(sink, options_);
  auto& active = activeCollection();
  {
    std::unique_lock lock(active.mutex);
    if (active.impl) throw std::logic_error("another CuptiSource is running in this process");
    active.impl = impl.get();
  }
  try {
    impl->enable();
  } catch (...) {
    impl->disable();
    std::unique_lock lock(active.mutex);
    active.impl = nullptr;
    throw;
  }
  uint32_t version = 0;
  cuptiGetVersion(&version);
  sink.setMeta("cupti", "active (CUPTI API version " + std::to_string(version) + ")");
  impl_ = std::move(impl);
  running_.store(true, std::memory_order_release);
}

void CuptiSource::stop() {
  if (!impl_) return;
  running_.store(false, std::memory_order_release);
  impl_->disable();
  {
    auto& active = activeCollection();
    std::unique_lock lock(active.mutex);
    active.impl = nullptr;
  }
  impl_->finish();
  impl_.reset();
}

bool CuptiSource::running() const {
  return running_.load(std::memory_order_acquire);
}

bool CuptiSource::capturesNvtx() const {
  if (!impl_ || !impl_->markerEnabled) return false;
  const char* injection = std::getenv("NVTX_INJECTION64_PATH");
  if (!injection) return false;
  return std::filesystem::path(injection).filename().string().rfind("libcupti", 0) == 0;
}

void CuptiSource::pushExternalCorrelation(uint64_t operatorCorrelationId) {
  if (!running()) return;
  cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0,
                                         operatorCorrelationId);
}

void CuptiSource::popExternalCorrelation() {
  if (!running()) return;
  uint64_t lastId = 0;
  cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &lastId);
}

void CuptiSource::operatorStarted(uint64_t correlationId) {
  pushExternalCorrelation(correlationId);
}

void CuptiSource::operatorEnded(uint64_t) {
  popExternalCorrelation();
}

}  // namespace moeprof::collector
