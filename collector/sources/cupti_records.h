#pragma once
// Turns CUPTI activity records into trace events. Kept apart from the live CUPTI source
// (collector/sources/cupti_source.h) and free of CUPTI calls so that tests can feed it record
// structs they build themselves, as Kineto's tests do, and link without libcupti. The header itself
// names no CUPTI type: records arrive as `const void*` whose first field is their
// CUpti_ActivityKind, laid out as the CUPTI headers the .cpp was compiled against define them.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "collector/trace_events.h"

namespace moeprof::collector {

class TraceSink;

// Converts the records of CUPTI activity buffers (what CUPTI hands to its buffer-completed
// callback) into events on a sink: kernels, copies, memsets, device memory (MEMORY2), NVTX
// markers, runtime and driver API calls, external correlations and CUPTI's overhead. Some state
// spans buffers (NVTX ranges still open, device memory totals), so one parser serves one whole
// collection. Not thread-safe: CuptiSource calls it under a lock.
class CuptiRecordParser {
 public:
  // The name of a runtime or driver API callback id ("cudaLaunchKernel"). The live source asks
  // cuptiGetCallbackName; tests pass a table. Asked once per distinct id.
  using ApiNameLookup = std::function<std::string(ApiEvent::Api api, uint32_t callbackId)>;
  // Advances `*record` to the next record of the buffer (to the first when `*record` is null);
  // returns false after the last. The live source wraps cuptiActivityGetNextRecord, which alone
  // knows how CUPTI packs records; tests walk buffers they packed themselves.
  using RecordWalker = std::function<bool(uint8_t* buffer, size_t validBytes, const void** record)>;

  // The external-correlation kind CuptiSource pushes operator ids under (CUPTI's
  // CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0); records of other kinds belong to other layers
  // (another profiler, OpenACC) and are not operator ids.
  static constexpr uint32_t kOperatorCorrelationKind = 3;

  // What the parser saw, for SourceStats and for tests.
  struct Counters {
    int64_t records = 0;                       // records parsed, of any kind
    int64_t events = 0;                        // events appended to the sink
    int64_t unknownRecords = 0;                // records of kinds the parser does not handle
    std::map<uint32_t, int64_t> unknownKinds;  // CUpti_ActivityKind value -> records
    // Records of handled kinds that carry nothing for the trace: host (pageable, pinned)
    // allocations, external correlations of other kinds, marker flags other than
    // start/end/instantaneous.
    int64_t ignoredRecords = 0;
    int64_t unmatchedRangeEnds = 0;  // NVTX range ends whose start came before the collection
    int64_t unmatchedReleases = 0;   // device frees of memory allocated before the collection
  };

  CuptiRecordParser(TraceSink& sink, ApiNameLookup apiName);

  // Added to every CUPTI timestamp to put it on the trace clock (traceClockNs): 0 when CUPTI
  // reads that clock itself (cuptiActivityRegisterTimestampCallback). A timestamp of 0 means
  // CUPTI could not time the activity and stays 0.
  void setClockOffsetNs(int64_t offsetNs) { clockOffsetNs_ = offsetNs; }
  int64_t clockOffsetNs() const { return clockOffsetNs_; }

  // Parses every record of one buffer; returns how many there were. Exceptions of the sink
  // propagate; records before the failing one have been delivered.
  size_t parseBuffer(uint8_t* buffer, size_t validBytes, const RecordWalker& next);
  // Parses one record.
  void parseRecord(const void* record);

  // NVTX ranges whose start record arrived and whose end has not (yet).
  size_t openRanges() const { return openRanges_.size(); }
  // Bytes currently allocated on a CUDA device, as far as this collection has seen.
  int64_t deviceAllocatedBytes(uint32_t deviceId) const;
  const Counters& counters() const { return counters_; }

 private:
  // Device memory seen so far on one device: the live allocations by address, and their sum.
  struct DeviceMemory {
    int64_t allocatedBytes = 0;
    std::unordered_map<uint64_t, int64_t> liveBytesByAddress;
  };
  // A marker record's fields that matter here.
  struct Marker {
    uint32_t flags = 0;
    uint32_t id = 0;
    int64_t timestampNs = 0;
    uint64_t threadId = 0;
    const char* name = nullptr;
    const char* domain = nullptr;
  };
  // A MEMORY2 record's fields that matter here.
  struct DeviceMemoryOperation {
    bool allocation = true;
    uint32_t deviceId = 0;
    uint64_t address = 0;
    int64_t bytes = 0;
    int64_t timestampNs = 0;
  };

  int64_t hostNs(uint64_t cuptiNs) const;
  template <typename Event>
  void deliver(Event event);  // to the sink, counted
  bool dispatch(const void* record, uint32_t kind);
  void onMarker(const Marker& marker);
  void onDeviceMemory(const DeviceMemoryOperation& operation);
  const std::string& apiName(ApiEvent::Api api, uint32_t callbackId);
  const std::string& kernelName(const char* mangled);

  TraceSink& sink_;
  ApiNameLookup apiNameLookup_;
  int64_t clockOffsetNs_ = 0;
  Counters counters_;
  std::unordered_map<uint32_t, RangeEvent> openRanges_;  // by marker id
  std::map<uint32_t, DeviceMemory> deviceMemory_;        // by device id
  std::map<std::pair<ApiEvent::Api, uint32_t>, std::string> apiNames_;
  std::unordered_map<std::string, std::string> kernelNames_;  // mangled -> demangled
};

}  // namespace moeprof::collector
