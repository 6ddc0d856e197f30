// The CUPTI record parser on activity buffers built here from real CUPTI record structs, as
// Kineto's tests do: no GPU and no CUPTI call needed.
#include "collector/sources/cupti_records.h"

#include <gtest/gtest.h>

#if MOEPROF_HAVE_CUPTI

#include <cupti_activity.h>

#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "collector/trace_sink.h"

namespace moeprof::collector {
namespace {

// Records packed back to back at 8-byte boundaries (CUPTI's record alignment), with a walker
// that steps through them as cuptiActivityGetNextRecord steps through CUPTI's buffers.
class FakeActivityBuffer {
 public:
  template <typename Record>
  FakeActivityBuffer& add(const Record& record) {
    size_t offset = words_.size() * sizeof(uint64_t);
    words_.resize(words_.size() + (sizeof(Record) + 7) / 8);
    std::memcpy(bytes() + offset, &record, sizeof(Record));
    offsets_.push_back(offset);
    return *this;
  }

  size_t parseWith(CuptiRecordParser& parser) {
    return parser.parseBuffer(bytes(), words_.size() * sizeof(uint64_t),
                              [this](uint8_t* buffer, size_t validBytes, const void** record) {
                                return next(buffer, validBytes, record);
                              });
  }

 private:
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(words_.data()); }

  bool next(uint8_t* buffer, size_t validBytes, const void** record) const {
    size_t index = 0;
    if (*record) {
      auto at = static_cast<size_t>(static_cast<const uint8_t*>(*record) - buffer);
      while (index < offsets_.size() && offsets_[index] != at) ++index;
      ++index;
    }
    if (index >= offsets_.size() || offsets_[index] >= validBytes) return false;
    *record = buffer + offsets_[index];
    return true;
  }

  std::vector<uint64_t> words_;  // uint64_t storage keeps the records 8-byte aligned
  std::vector<size_t> offsets_;
};

class CuptiRecordsTest : public ::testing::Test {
 protected:
  std::string lookupApiName(ApiEvent::Api api, uint32_t callbackId) {
    ++lookups_[{api, callbackId}];
    if (api == ApiEvent::Api::Runtime && callbackId == 211) return "cudaLaunchKernel_v7000";
    if (api == ApiEvent::Api::Driver && callbackId == 1) return "cuInit";
    return "";
  }

  TraceBuffer sink_;
  std::map<std::pair<ApiEvent::Api, uint32_t>, int> lookups_;
  CuptiRecordParser parser_{sink_, [this](ApiEvent::Api api, uint32_t callbackId) {
                              return lookupApiName(api, callbackId);
                            }};
};

CUpti_ActivityKernel10 kernelRecord(CUpti_ActivityKind kind, uint32_t correlationId, uint64_t start,
                                    uint64_t end) {
  CUpti_ActivityKernel10 r{};
  r.kind = kind;
  r.start = start;
  r.end = end;
  r.deviceId = 1;
  r.contextId = 2;
  r.streamId = 7;
  r.correlationId = correlationId;
  r.gridX = 64, r.gridY = 2, r.gridZ = 1;
  r.blockX = 256, r.blockY = 1, r.blockZ = 1;
  r.registersPerThread = 32;
  r.staticSharedMemory = 1024;
  r.dynamicSharedMemory = 4096;
  r.name = "_Z6addOnePfi";
  return r;
}

CUpti_ActivityMemcpy6 memcpyRecord(CUpti_ActivityMemcpyKind copyKind, uint64_t bytes,
                                   uint32_t correlationId) {
  CUpti_ActivityMemcpy6 r{};
  r.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
  r.copyKind = copyKind;
  r.srcKind = copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_HTOD ? CUPTI_ACTIVITY_MEMORY_KIND_PINNED
                                                          : CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
  r.dstKind = copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_HTOD ? CUPTI_ACTIVITY_MEMORY_KIND_DEVICE
                                                          : CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE;
  r.bytes = bytes;
  r.start = 1000;
  r.end = 2000;
  r.deviceId = 0;
  r.streamId = 3;
  r.correlationId = correlationId;
  return r;
}

CUpti_ActivityMemory4 memoryRecord(CUpti_ActivityMemoryOperationType operation, uint32_t device,
                                   uint64_t address, uint64_t bytes, uint64_t timestamp) {
  CUpti_ActivityMemory4 r{};
  r.kind = CUPTI_ACTIVITY_KIND_MEMORY2;
  r.memoryOperationType = operation;
  r.memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
  r.deviceId = device;
  r.address = address;
  r.bytes = bytes;
  r.timestamp = timestamp;
  return r;
}

CUpti_ActivityMarker2 markerRecord(CUpti_ActivityFlag flags, uint32_t id, uint64_t timestamp,
                                   const char* name, const char* domain) {
  CUpti_ActivityMarker2 r{};
  r.kind = CUPTI_ACTIVITY_KIND_MARKER;
  r.flags = flags;
  r.id = id;
  r.timestamp = timestamp;
  r.objectKind = CUPTI_ACTIVITY_OBJECT_THREAD;
  r.objectId.pt.processId = 1;
  r.objectId.pt.threadId = 4242;
  r.name = name;
  r.domain = domain;
  return r;
}

CUpti_ActivityAPI apiRecord(CUpti_ActivityKind kind, uint32_t callbackId, uint32_t correlationId,
                            uint64_t start, uint64_t end) {
  CUpti_ActivityAPI r{};
  r.kind = kind;
  r.cbid = callbackId;
  r.start = start;
  r.end = end;
  r.threadId = 77;
  r.correlationId = correlationId;
  return r;
}

CUpti_ActivityExternalCorrelation externalCorrelation(CUpti_ExternalCorrelationKind kind,
                                                      uint32_t correlationId, uint64_t externalId) {
  CUpti_ActivityExternalCorrelation r{};
  r.kind = CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION;
  r.externalKind = kind;
  r.correlationId = correlationId;
  r.externalId = externalId;
  return r;
}

CUpti_ActivityOverhead3 overheadRecord(CUpti_ActivityOverheadKind kind, uint64_t start,
                                       uint64_t end) {
  CUpti_ActivityOverhead3 r{};
  r.kind = CUPTI_ACTIVITY_KIND_OVERHEAD;
  r.overheadKind = kind;
  r.objectKind = CUPTI_ACTIVITY_OBJECT_THREAD;
  r.objectId.pt.threadId = 99;
  r.start = start;
  r.end = end;
  return r;
}

TEST_F(CuptiRecordsTest, KernelRecordsBecomeKernelEventsWithDemangledNames) {
  FakeActivityBuffer buffer;
  buffer.add(kernelRecord(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, 17, 5000, 7500))
      .add(kernelRecord(CUPTI_ACTIVITY_KIND_KERNEL, 18, 8000, 9000));
  EXPECT_EQ(buffer.parseWith(parser_), 2u);

  Trace trace = sink_.trace();
  ASSERT_EQ(trace.kernels.size(), 2u);
  const KernelEvent& k = trace.kernels[0];
  EXPECT_EQ(k.name, "addOne(float*, int)");
  EXPECT_EQ(k.startNs, 5000);
  EXPECT_EQ(k.endNs, 7500);
  EXPECT_EQ(k.correlationId, 17u);
  EXPECT_EQ(k.deviceId, 1u);
  EXPECT_EQ(k.contextId, 2u);
  EXPECT_EQ(k.streamId, 7u);
  EXPECT_EQ(k.gridX, 64);
  EXPECT_EQ(k.gridY, 2);
  EXPECT_EQ(k.blockX, 256);
  EXPECT_EQ(k.registersPerThread, 32);
  EXPECT_EQ(k.staticSharedBytes, 1024);
  EXPECT_EQ(k.dynamicSharedBytes, 4096);
  EXPECT_EQ(trace.kernels[1].correlationId, 18u);
  EXPECT_EQ(trace.kernels[1].startNs, 8000);
  EXPECT_EQ(parser_.counters().events, 2);
  EXPECT_EQ(parser_.counters().unknownRecords, 0);
}

TEST_F(CuptiRecordsTest, CopiesKeepTheirDirectionAndPeerDevices) {
  CUpti_ActivityMemcpyPtoP4 peer{};
  peer.kind = CUPTI_ACTIVITY_KIND_MEMCPY2;
  peer.copyKind = CUPTI_ACTIVITY_MEMCPY_KIND_PTOP;
  peer.srcKind = peer.dstKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
  peer.bytes = 1 << 20;
  peer.start = 3000;
  peer.end = 4000;
  peer.deviceId = 0;
  peer.srcDeviceId = 0;
  peer.dstDeviceId = 1;
  peer.correlationId = 31;
  FakeActivityBuffer buffer;
  buffer.add(memcpyRecord(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, 4096, 21))
      .add(memcpyRecord(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH, 512, 22))
      .add(peer);
  buffer.parseWith(parser_);

  Trace trace = sink_.trace();
  ASSERT_EQ(trace.memcpys.size(), 3u);
  const MemcpyEvent& toDevice = trace.memcpys[0];
  EXPECT_EQ(toDevice.copyKind, static_cast<uint8_t>(CopyKind::HostToDevice));
  EXPECT_STREQ(copyKindName(toDevice.copyKind), "HtoD");
  EXPECT_EQ(toDevice.bytes, 4096);
  EXPECT_EQ(toDevice.srcKind, CUPTI_ACTIVITY_MEMORY_KIND_PINNED);
  EXPECT_EQ(toDevice.dstKind, CUPTI_ACTIVITY_MEMORY_KIND_DEVICE);
  EXPECT_EQ(toDevice.correlationId, 21u);
  EXPECT_EQ(toDevice.streamId, 3u);
  EXPECT_EQ(toDevice.srcDeviceId, -1);  // not a peer copy
  EXPECT_STREQ(copyKindName(trace.memcpys[1].copyKind), "DtoH");
  EXPECT_EQ(trace.memcpys[1].bytes, 512);
  const MemcpyEvent& p = trace.memcpys[2];
  EXPECT_STREQ(copyKindName(p.copyKind), "PtoP");
  EXPECT_EQ(p.srcDeviceId, 0);
  EXPECT_EQ(p.dstDeviceId, 1);
  EXPECT_EQ(p.bytes, 1 << 20);
  EXPECT_EQ(p.correlationId, 31u);
  EXPECT_EQ(p.startNs, 3000);
  EXPECT_EQ(p.endNs, 4000);
}

TEST_F(CuptiRecordsTest, MemsetsKeepValueAndBytes) {
  CUpti_ActivityMemset4 r{};
  r.kind = CUPTI_ACTIVITY_KIND_MEMSET;
  r.value = 0xff;
  r.bytes = 2048;
  r.start = 10;
  r.end = 20;
  r.deviceId = 2;
  r.streamId = 9;
  r.correlationId = 41;
  FakeActivityBuffer buffer;
  buffer.add(r);
  buffer.parseWith(parser_);

  Trace trace = sink_.trace();
  ASSERT_EQ(trace.memsets.size(), 1u);
  EXPECT_EQ(trace.memsets[0].value, 0xffu);
  EXPECT_EQ(trace.memsets[0].bytes, 2048);
  EXPECT_EQ(trace.memsets[0].deviceId, 2u);
  EXPECT_EQ(trace.memsets[0].streamId, 9u);
  EXPECT_EQ(trace.memsets[0].correlationId, 41u);
  EXPECT_EQ(trace.memsets[0].startNs, 10);
  EXPECT_EQ(trace.memsets[0].endNs, 20);
}

TEST_F(CuptiRecordsTest, DeviceMemoryKeepsRunningTotalsPerDevice) {
  auto pinned = memoryRecord(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, 0, 0xF000, 64, 5);
  pinned.memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_PINNED;  // host memory: not a device's
  FakeActivityBuffer buffer;
  buffer.add(memoryRecord(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, 0, 0xA000, 100, 10))
      .add(memoryRecord(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, 0, 0xB000, 50, 20))
      .add(memoryRecord(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, 1, 0xC000, 30, 30))
      .add(pinned)
      // The freed size is the matching allocation's, whatever the release record says.
      .add(memoryRecord(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE, 0, 0xA000, 0, 40))
      .add(memoryRecord(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE, 0, 0xD000, 70, 50));
  buffer.parseWith(parser_);

  Trace trace = sink_.trace();
  ASSERT_EQ(trace.memory.size(), 4u);
  struct Expected {
    int8_t device;
    int64_t bytes, total, timestamp;
    uint64_t address;
  };
  const Expected expected[] = {{0, 100, 100, 10, 0xA000},
                               {0, 50, 150, 20, 0xB000},
                               {1, 30, 30, 30, 0xC000},
                               {0, -100, 50, 40, 0xA000}};
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    const MemoryEvent& e = trace.memory[i];
    EXPECT_EQ(e.deviceType, 1);  // CUDA
    EXPECT_EQ(e.deviceIndex, expected[i].device);
    EXPECT_EQ(e.bytes, expected[i].bytes);
    EXPECT_EQ(e.totalAllocatedBytes, expected[i].total);
    EXPECT_EQ(e.totalReservedBytes, expected[i].total);
    EXPECT_EQ(e.timestampNs, expected[i].timestamp);
    EXPECT_EQ(e.address, expected[i].address);
  }
  EXPECT_EQ(parser_.deviceAllocatedBytes(0), 50);
  EXPECT_EQ(parser_.deviceAllocatedBytes(1), 30);
  EXPECT_EQ(parser_.counters().ignoredRecords, 1);     // the pinned host allocation
  EXPECT_EQ(parser_.counters().unmatchedReleases, 1);  // 0xD000 was allocated before
}

TEST_F(CuptiRecordsTest, MarkersPairIntoRangesAndMarks) {
  FakeActivityBuffer first;
  first.add(markerRecord(CUPTI_ACTIVITY_FLAG_MARKER_START, 7, 100, "gate", "moeprof"))
      .add(markerRecord(CUPTI_ACTIVITY_FLAG_MARKER_INSTANTANEOUS, 8, 150, "tick", nullptr))
      .add(markerRecord(CUPTI_ACTIVITY_FLAG_MARKER_START, 9, 160, "never ends", nullptr));
  first.parseWith(parser_);
  EXPECT_EQ(parser_.openRanges(), 2u);
  // The end arrives in a later buffer and, as CUPTI sends it, without name or domain.
  FakeActivityBuffer second;
  second.add(markerRecord(CUPTI_ACTIVITY_FLAG_MARKER_END, 7, 200, nullptr, nullptr))
      .add(markerRecord(CUPTI_ACTIVITY_FLAG_MARKER_END, 55, 210, nullptr, nullptr));
  second.parseWith(parser_);

  Trace trace = sink_.trace();
  ASSERT_EQ(trace.ranges.size(), 2u);
  const RangeEvent& mark = trace.ranges[0];
  EXPECT_TRUE(mark.isMark);
  EXPECT_EQ(mark.text, "tick");
  EXPECT_EQ(mark.domain, "");
  EXPECT_EQ(mark.startNs, 150);
  EXPECT_EQ(mark.endNs, 150);
  const RangeEvent& range = trace.ranges[1];
  EXPECT_FALSE(range.isMark);
  EXPECT_EQ(range.text, "gate");
  EXPECT_EQ(range.domain, "moeprof");
  EXPECT_EQ(range.startNs, 100);
  EXPECT_EQ(range.endNs, 200);
  EXPECT_EQ(range.threadId, 4242u);
  EXPECT_EQ(parser_.openRanges(), 1u);  // "never ends"
  EXPECT_EQ(parser_.counters().unmatchedRangeEnds, 1);
}

TEST_F(CuptiRecordsTest, RuntimeAndDriverCallsAreNamedOncePerCallbackId) {
  FakeActivityBuffer buffer;
  buffer.add(apiRecord(CUPTI_ACTIVITY_KIND_RUNTIME, 211, 17, 400, 450))
      .add(apiRecord(CUPTI_ACTIVITY_KIND_DRIVER, 1, 0, 10, 90))
      .add(apiRecord(CUPTI_ACTIVITY_KIND_RUNTIME, 211, 18, 500, 530))
      .add(apiRecord(CUPTI_ACTIVITY_KIND_RUNTIME, 5, 19, 600, 610));
  buffer.parseWith(parser_);

  Trace trace = sink_.trace();
  ASSERT_EQ(trace.apiCalls.size(), 4u);
  const ApiEvent& launch = trace.apiCalls[0];
  EXPECT_EQ(launch.api, ApiEvent::Api::Runtime);
  EXPECT_EQ(launch.name, "cudaLaunchKernel_v7000");
  EXPECT_EQ(launch.correlationId, 17u);
  EXPECT_EQ(launch.threadId, 77u);
  EXPECT_EQ(launch.startNs, 400);
  EXPECT_EQ(launch.endNs, 450);
  EXPECT_EQ(trace.apiCalls[1].api, ApiEvent::Api::Driver);
  EXPECT_EQ(trace.apiCalls[1].name, "cuInit");
  EXPECT_EQ(trace.apiCalls[2].name, "cudaLaunchKernel_v7000");
  EXPECT_EQ(trace.apiCalls[3].name, "cbid 5");  // the lookup knew no name
  EXPECT_EQ((lookups_[{ApiEvent::Api::Runtime, 211}]), 1);
  EXPECT_EQ((lookups_[{ApiEvent::Api::Driver, 1}]), 1);
}

TEST_F(CuptiRecordsTest, ExternalCorrelationLinksKernelsToOperators) {
  constexpr uint64_t kOperatorId = 123456789012ull;
  FakeActivityBuffer buffer;
  buffer.add(externalCorrelation(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, 17, kOperatorId))
      .add(externalCorrelation(CUPTI_EXTERNAL_CORRELATION_KIND_OPENACC, 17, 5))
      .add(apiRecord(CUPTI_ACTIVITY_KIND_RUNTIME, 211, 17, 400, 450))
      .add(kernelRecord(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, 17, 500, 900));
  buffer.parseWith(parser_);

  Trace trace = sink_.trace();
  ASSERT_EQ(trace.correlations.size(), 1u);  // the OpenACC one is another layer's
  std::map<uint64_t, uint64_t> operatorOf;
  for (const auto& c : trace.correlations) operatorOf[c.correlationId] = c.externalId;
  ASSERT_EQ(trace.kernels.size(), 1u);
  ASSERT_TRUE(operatorOf.count(trace.kernels[0].correlationId));
  EXPECT_EQ(operatorOf[trace.kernels[0].correlationId], kOperatorId);
  EXPECT_EQ(trace.apiCalls.at(0).correlationId, trace.kernels[0].correlationId);
  EXPECT_EQ(parser_.counters().ignoredRecords, 1);
}

TEST_F(CuptiRecordsTest, OverheadRecordsNameWhatTookTheTime) {
  FakeActivityBuffer buffer;
  buffer.add(overheadRecord(CUPTI_ACTIVITY_OVERHEAD_CUPTI_BUFFER_FLUSH, 100, 300))
      .add(overheadRecord(CUPTI_ACTIVITY_OVERHEAD_CUPTI_INSTRUMENTATION, 400, 450))
      .add(overheadRecord(CUPTI_ACTIVITY_OVERHEAD_DRIVER_COMPILER, 500, 900));
  buffer.parseWith(parser_);

  Trace trace = sink_.trace();
  ASSERT_EQ(trace.overheads.size(), 3u);
  EXPECT_EQ(trace.overheads[0].kind, "cupti.buffer_flush");
  EXPECT_EQ(trace.overheads[0].startNs, 100);
  EXPECT_EQ(trace.overheads[0].endNs, 300);
  EXPECT_EQ(trace.overheads[0].threadId, 99u);
  EXPECT_EQ(trace.overheads[1].kind, "cupti.instrumentation");
  EXPECT_EQ(trace.overheads[2].kind, "cuda.driver_compiler");
}

TEST_F(CuptiRecordsTest, UnknownKindsAreCountedAndParsingGoesOn) {
  CUpti_ActivityContext3 context{};
  context.kind = CUPTI_ACTIVITY_KIND_CONTEXT;
  FakeActivityBuffer buffer;
  buffer.add(context)
      .add(kernelRecord(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, 1, 10, 20))
      .add(context);
  EXPECT_EQ(buffer.parseWith(parser_), 3u);

  EXPECT_EQ(sink_.trace().kernels.size(), 1u);
  const auto& counters = parser_.counters();
  EXPECT_EQ(counters.records, 3);
  EXPECT_EQ(counters.unknownRecords, 2);
  ASSERT_EQ(counters.unknownKinds.size(), 1u);
  EXPECT_EQ(counters.unknownKinds.at(CUPTI_ACTIVITY_KIND_CONTEXT), 2);
  EXPECT_EQ(counters.events, 1);
}

TEST_F(CuptiRecordsTest, ClockOffsetMovesEveryTimestampButUntimedOnes) {
  constexpr int64_t kOffset = -4000;
  parser_.setClockOffsetNs(kOffset);
  FakeActivityBuffer buffer;
  buffer.add(kernelRecord(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, 1, 10000, 12000))
      .add(kernelRecord(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, 2, 0, 0))  // CUPTI: not timed
      .add(memcpyRecord(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, 8, 3))
      .add(apiRecord(CUPTI_ACTIVITY_KIND_RUNTIME, 211, 4, 9000, 9500))
      .add(memoryRecord(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, 0, 0xA0, 8, 8000))
      .add(markerRecord(CUPTI_ACTIVITY_FLAG_MARKER_START, 1, 7000, "r", nullptr))
      .add(markerRecord(CUPTI_ACTIVITY_FLAG_MARKER_END, 1, 13000, nullptr, nullptr))
      .add(overheadRecord(CUPTI_ACTIVITY_OVERHEAD_CUPTI_RESOURCE, 6000, 6500));
  buffer.parseWith(parser_);

  Trace trace = sink_.trace();
  ASSERT_EQ(trace.kernels.size(), 2u);
  EXPECT_EQ(trace.kernels[0].startNs, 10000 + kOffset);
  EXPECT_EQ(trace.kernels[0].endNs, 12000 + kOffset);
  EXPECT_EQ(trace.kernels[1].startNs, 0);
  EXPECT_EQ(trace.kernels[1].endNs, 0);
  EXPECT_EQ(trace.memcpys.at(0).startNs, 1000 + kOffset);
  EXPECT_EQ(trace.apiCalls.at(0).startNs, 9000 + kOffset);
  EXPECT_EQ(trace.apiCalls.at(0).endNs, 9500 + kOffset);
  EXPECT_EQ(trace.memory.at(0).timestampNs, 8000 + kOffset);
  EXPECT_EQ(trace.ranges.at(0).startNs, 7000 + kOffset);
  EXPECT_EQ(trace.ranges.at(0).endNs, 13000 + kOffset);
  EXPECT_EQ(trace.overheads.at(0).startNs, 6000 + kOffset);
  EXPECT_EQ(trace.overheads.at(0).kind, "cupti.resource");
}

}  // namespace
}  // namespace moeprof::collector

#endif  // MOEPROF_HAVE_CUPTI
