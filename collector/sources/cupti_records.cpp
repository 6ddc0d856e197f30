#include "collector/sources/cupti_records.h"

#include <cupti_activity.h>
#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <utility>

#include "collector/trace_sink.h"

namespace moeprof::collector {

static_assert(CuptiRecordParser::kOperatorCorrelationKind ==
              CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0);

namespace {

// The newest record versions of the CUDA 13 headers. libcupti writes the versions of its own
// release, so the headers and the library must come from one toolkit (CMake takes both from
// the same CUDAToolkit).
using KernelRecord = CUpti_ActivityKernel10;
using MemcpyRecord = CUpti_ActivityMemcpy6;
using PeerMemcpyRecord = CUpti_ActivityMemcpyPtoP4;
using MemsetRecord = CUpti_ActivityMemset4;
using MemoryRecord = CUpti_ActivityMemory4;
using MarkerRecord = CUpti_ActivityMarker2;
using ApiRecord = CUpti_ActivityAPI;
using ExternalCorrelationRecord = CUpti_ActivityExternalCorrelation;
using OverheadRecord = CUpti_ActivityOverhead3;

template <typename Record>
const Record& as(const void* record) {
  return *static_cast<const Record*>(record);
}

int64_t toHostNs(uint64_t cuptiNs, int64_t offsetNs) {
  return cuptiNs == 0 ? 0 : static_cast<int64_t>(cuptiNs) + offsetNs;
}

std::string orEmpty(const char* text) {
  return text ? std::string(text) : std::string();
}

// CUPTI names the thread of markers and overheads through a tagged union.
uint64_t threadOf(CUpti_ActivityObjectKind kind, const CUpti_ActivityObjectKindId& id) {
  return kind == CUPTI_ACTIVITY_OBJECT_THREAD ? id.pt.threadId : 0;
}

std::string demangle(const char* name) {
  if (!name) return {};
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> demangled(
      abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
  // extern "C" kernels and names that are not C++ symbols stay as they are.
  return status == 0 && demangled ? std::string(demangled.get()) : std::string(name);
}

const char* overheadKindName(CUpti_ActivityOverheadKind kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_OVERHEAD_DRIVER_COMPILER:
      return "cuda.driver_compiler";
    case CUPTI_ACTIVITY_OVERHEAD_CUPTI_BUFFER_FLUSH:
      return "cupti.buffer_flush";
    case CUPTI_ACTIVITY_OVERHEAD_CUPTI_INSTRUMENTATION:
      return "cupti.instrumentation";
    case CUPTI_ACTIVITY_OVERHEAD_CUPTI_RESOURCE:
      return "cupti.resource";
    case CUPTI_ACTIVITY_OVERHEAD_RUNTIME_TRIGGERED_MODULE_LOADING:
      return "cuda.module_loading";
    case CUPTI_ACTIVITY_OVERHEAD_LAZY_FUNCTION_LOADING:
      return "cuda.lazy_function_loading";
    case CUPTI_ACTIVITY_OVERHEAD_COMMAND_BUFFER_FULL:
      return "cuda.command_buffer_full";
    case CUPTI_ACTIVITY_OVERHEAD_ACTIVITY_BUFFER_REQUEST:
      return "cupti.buffer_request";
    case CUPTI_ACTIVITY_OVERHEAD_UVM_ACTIVITY_INIT:
      return "cupti.uvm_init";
    default:
      return "cupti.unknown";
  }
}

KernelEvent kernelEvent(const KernelRecord& r, int64_t offsetNs) {
  KernelEvent e;
  e.startNs = toHostNs(r.start, offsetNs);
  e.endNs = toHostNs(r.end, offsetNs);
  e.deviceId = r.deviceId;
  e.contextId = r.contextId;
  e.streamId = r.streamId;
  e.correlationId = r.correlationId;
  e.gridX = r.gridX, e.gridY = r.gridY, e.gridZ = r.gridZ;
  e.blockX = r.blockX, e.blockY = r.blockY, e.blockZ = r.blockZ;
  e.registersPerThread = r.registersPerThread;
  e.staticSharedBytes = r.staticSharedMemory;
  e.dynamicSharedBytes = r.dynamicSharedMemory;
  return e;
}

MemcpyEvent memcpyEvent(const MemcpyRecord& r, int64_t offsetNs) {
  MemcpyEvent e;
  e.startNs = toHostNs(r.start, offsetNs);
  e.endNs = toHostNs(r.end, offsetNs);
  e.deviceId = r.deviceId;
  e.contextId = r.contextId;
  e.streamId = r.streamId;
  e.correlationId = r.correlationId;
  e.bytes = static_cast<int64_t>(r.bytes);
  e.copyKind = r.copyKind;
  e.srcKind = r.srcKind;
  e.dstKind = r.dstKind;
  return e;
}

MemcpyEvent peerMemcpyEvent(const PeerMemcpyRecord& r, int64_t offsetNs) {
  MemcpyEvent e;
  e.startNs = toHostNs(r.start, offsetNs);
  e.endNs = toHostNs(r.end, offsetNs);
  e.deviceId = r.deviceId;
  e.contextId = r.contextId;
  e.streamId = r.streamId;
  e.correlationId = r.correlationId;
  e.bytes = static_cast<int64_t>(r.bytes);
  e.copyKind = r.copyKind;
  e.srcKind = r.srcKind;
  e.dstKind = r.dstKind;
  e.srcDeviceId = static_cast<int32_t>(r.srcDeviceId);
  e.dstDeviceId = static_cast<int32_t>(r.dstDeviceId);
  return e;
}

MemsetEvent memsetEvent(const MemsetRecord& r, int64_t offsetNs) {
  MemsetEvent e;
  e.startNs = toHostNs(r.start, offsetNs);
  e.endNs = toHostNs(r.end, offsetNs);
  e.deviceId = r.deviceId;
  e.contextId = r.contextId;
  e.streamId = r.streamId;
  e.correlationId = r.correlationId;
  e.bytes = static_cast<int64_t>(r.bytes);
  e.value = r.value;
  return e;
}

ApiEvent apiEvent(const ApiRecord& r, int64_t offsetNs, ApiEvent::Api api) {
  ApiEvent e;
  e.startNs = toHostNs(r.start, offsetNs);
  e.endNs = toHostNs(r.end, offsetNs);
  e.threadId = r.threadId;
  e.correlationId = r.correlationId;
  e.api = api;
  e.returnValue = static_cast<int32_t>(r.returnValue);
  return e;
}

OverheadEvent overheadEvent(const OverheadRecord& r, int64_t offsetNs) {
  return OverheadEvent{toHostNs(r.start, offsetNs), toHostNs(r.end, offsetNs),
                       threadOf(r.objectKind, r.objectId), overheadKindName(r.overheadKind)};
}

bool isHostMemory(CUpti_ActivityMemoryKind kind) {
  return kind == CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE || kind == CUPTI_ACTIVITY_MEMORY_KIND_PINNED ||
         kind == CUPTI_ACTIVITY_MEMORY_KIND_UNKNOWN;
}

}  // namespace

CuptiRecordParser::CuptiRecordParser(TraceSink& sink, ApiNameLookup apiName)
    : sink_(sink), apiNameLookup_(std::move(apiName)) {}

size_t CuptiRecordParser::parseBuffer(uint8_t* buffer, size_t validBytes,
                                      const RecordWalker& next) {
  size_t parsed = 0;
  const void* record = nullptr;
  while (next(buffer, validBytes, &record)) {
    parseRecord(record);
    ++parsed;
  }
  return parsed;
}

void CuptiRecordParser::parseRecord(const void* record) {
  ++counters_.records;
  auto kind = static_cast<uint32_t>(as<CUpti_Activity>(record).kind);
  if (!dispatch(record, kind)) {
    ++counters_.unknownRecords;
    ++counters_.unknownKinds[kind];
  }
}

int64_t CuptiRecordParser::deviceAllocatedBytes(uint32_t deviceId) const {
  auto it = deviceMemory_.find(deviceId);
  return it == deviceMemory_.end() ? 0 : it->second.allocatedBytes;
}

int64_t CuptiRecordParser::hostNs(uint64_t cuptiNs) const {
  return toHostNs(cuptiNs, clockOffsetNs_);
}

template <typename Event>
void CuptiRecordParser::deliver(Event event) {
  sink_.append(std::move(event));
  ++counters_.events;
}

bool CuptiRecordParser::dispatch(const void* record, uint32_t kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:  // same record; moeprof enables only the concurrent kind
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
      const auto& r = as<KernelRecord>(record);
      KernelEvent event = kernelEvent(r, clockOffsetNs_);
      event.name = kernelName(r.name);
      deliver(std::move(event));
      return true;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY:
      deliver(memcpyEvent(as<MemcpyRecord>(record), clockOffsetNs_));
      return true;
    case CUPTI_ACTIVITY_KIND_MEMCPY2:
      deliver(peerMemcpyEvent(as<PeerMemcpyRecord>(record), clockOffsetNs_));
      return true;
    case CUPTI_ACTIVITY_KIND_MEMSET:
      deliver(memsetEvent(as<MemsetRecord>(record), clockOffsetNs_));
      return true;
    case CUPTI_ACTIVITY_KIND_MEMORY2: {
      const auto& r = as<MemoryRecord>(record);
      bool allocation = r.memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION;
      bool release = r.memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE;
      if (isHostMemory(r.memoryKind) || (!allocation && !release)) {
        ++counters_.ignoredRecords;
      } else {
        onDeviceMemory({allocation, r.deviceId, r.address, static_cast<int64_t>(r.bytes),
                        hostNs(r.timestamp)});
      }
      return true;
    }
    case CUPTI_ACTIVITY_KIND_MARKER: {
      const auto& r = as<MarkerRecord>(record);
      onMarker({static_cast<uint32_t>(r.flags), r.id, hostNs(r.timestamp),
                threadOf(r.objectKind, r.objectId), r.name, r.domain});
      return true;
    }
    case CUPTI_ACTIVITY_KIND_RUNTIME:
    case CUPTI_ACTIVITY_KIND_DRIVER: {
      const auto& r = as<ApiRecord>(record);
      auto api =
          kind == CUPTI_ACTIVITY_KIND_RUNTIME ? ApiEvent::Api::Runtime : ApiEvent::Api::Driver;
      ApiEvent event = apiEvent(r, clockOffsetNs_, api);
      event.name = apiName(api, r.cbid);
      deliver(std::move(event));
      return true;
    }
    case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
      const auto& r = as<ExternalCorrelationRecord>(record);
      if (r.externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) {
        deliver(CorrelationEvent{r.correlationId, r.externalId});
      } else {
        ++counters_.ignoredRecords;
      }
      return true;
    }
    case CUPTI_ACTIVITY_KIND_OVERHEAD:
      deliver(overheadEvent(as<OverheadRecord>(record), clockOffsetNs_));
      return true;
    default:
      return false;
  }
}

void CuptiRecordParser::onMarker(const Marker& marker) {
  if (marker.flags & CUPTI_ACTIVITY_FLAG_MARKER_INSTANTANEOUS) {
    deliver(RangeEvent{marker.timestampNs, marker.timestampNs, marker.threadId,
                       orEmpty(marker.domain), orEmpty(marker.name), true});
  } else if (marker.flags & CUPTI_ACTIVITY_FLAG_MARKER_START) {
    openRanges_[marker.id] =
        RangeEvent{marker.timestampNs,   0,    marker.threadId, orEmpty(marker.domain),
                   orEmpty(marker.name), false};
  } else if (marker.flags & CUPTI_ACTIVITY_FLAG_MARKER_END) {
    // End records carry neither name nor domain: they come from the start with the same id.
    auto it = openRanges_.find(marker.id);
    if (it == openRanges_.end()) {
      ++counters_.unmatchedRangeEnds;
      return;
    }
    RangeEvent range = std::move(it->second);
    openRanges_.erase(it);
    range.endNs = marker.timestampNs;
    deliver(std::move(range));
  } else {
    ++counters_.ignoredRecords;  // synchronization markers (NVTX sync extension)
  }
}

// At the driver level what is allocated is also what is reserved: the blocks a caching
// allocator (LibTorch's) carves out of these segments are invisible to CUPTI and come from
// LibTorch's memory reporting instead. So both totals are the driver-level sum.
void CuptiRecordParser::onDeviceMemory(const DeviceMemoryOperation& operation) {
  DeviceMemory& device = deviceMemory_[operation.deviceId];
  int64_t delta = operation.bytes;
  if (operation.allocation) {
    device.liveBytesByAddress[operation.address] = operation.bytes;
  } else {
    auto it = device.liveBytesByAddress.find(operation.address);
    if (it == device.liveBytesByAddress.end()) {
      // Allocated before the collection began: not in the totals, so not taken out of them.
      ++counters_.unmatchedReleases;
      return;
    }
    delta = -it->second;
    device.liveBytesByAddress.erase(it);
  }
  device.allocatedBytes += delta;
  MemoryEvent event;
  event.timestampNs = operation.timestampNs;
  event.deviceType = 1;  // c10::DeviceType::CUDA
  event.deviceIndex = static_cast<int8_t>(operation.deviceId);
  event.bytes = delta;
  event.totalAllocatedBytes = device.allocatedBytes;
  event.totalReservedBytes = device.allocatedBytes;
  event.address = operation.address;
  deliver(event);
}

const std::string& CuptiRecordParser::apiName(ApiEvent::Api api, uint32_t callbackId) {
  auto key = std::make_pair(api, callbackId);
  auto it = apiNames_.find(key);
  if (it == apiNames_.end()) {
    std::string name = apiNameLookup_ ? apiNameLookup_(api, callbackId) : std::string();
    if (name.empty()) name = "cbid " + std::to_string(callbackId);
    it = apiNames_.emplace(key, std::move(name)).first;
  }
  return it->second;
}

const std::string& CuptiRecordParser::kernelName(const char* mangled) {
  std::string key = orEmpty(mangled);
  auto it = kernelNames_.find(key);
  if (it == kernelNames_.end()) it = kernelNames_.emplace(key, demangle(mangled)).first;
  return it->second;
}

}  // namespace moeprof::collector
