// The CUPTI source on a real GPU: a known sequence of CUDA calls (allocate, memset, copy in,
// one kernel, copy out, free) must come back as records that point at each other, at the
// operator id pushed around them, and lie on the host clock inside the test's own window.
// Without a CUDA device each test skips, saying why.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>
#include <nvtx3/nvToolsExt.h>

#include <stdlib.h>

#include <algorithm>
#include <string>
#include <vector>

#include "collector/sources/cupti_source.h"
#include "collector/trace_events.h"
#include "collector/trace_sink.h"
#include "tests/gpu/cuda_device.h"
#include "tests/gpu/trivial_kernels.h"

namespace moeprof::collector {
namespace {

class CuptiGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = moeprof::testing::noCudaDeviceReason(); !reason.empty())
      GTEST_SKIP() << reason;
    auto cupti = CuptiSource::availability();
    ASSERT_TRUE(cupti.available) << "a CUDA device is present but " << cupti.reason;
    ASSERT_EQ(cudaFree(nullptr), cudaSuccess);  // the context exists before tracing begins
  }

  // Fails the test unless [start, end] lies inside the test's window on the host clock.
  void expectInWindow(int64_t startNs, int64_t endNs, const std::string& what) const {
    EXPECT_LE(windowBeginNs_, startNs) << what << " starts before the test did";
    EXPECT_LE(startNs, endNs) << what << " ends before it starts";
    EXPECT_LE(endNs, windowEndNs_) << what << " ends after the test did";
  }

  int64_t windowBeginNs_ = 0;
  int64_t windowEndNs_ = 0;
};

const ApiEvent* findApi(const Trace& trace, uint64_t correlationId, const std::string& prefix) {
  for (const auto& call : trace.apiCalls) {
    if (call.api == ApiEvent::Api::Runtime && call.correlationId == correlationId &&
        call.name.rfind(prefix, 0) == 0) {
      return &call;
    }
  }
  return nullptr;
}

TEST_F(CuptiGpuTest, RecordsKernelsCopiesMemoryAndCallsThatPointAtEachOther) {
  constexpr int kCount = 1 << 16;
  constexpr size_t kBytes = kCount * sizeof(float);
  constexpr uint64_t kOperatorId = 4242424242ull;
  std::vector<float> host(kCount, 1.0f);
  TraceBuffer sink;
  CuptiSource cupti;
  windowBeginNs_ = traceClockNs();
  cupti.start(sink);
  ASSERT_TRUE(cupti.running());
  cupti.pushExternalCorrelation(kOperatorId);
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&device), kBytes), cudaSuccess);
  ASSERT_EQ(cudaMemset(device, 0, kBytes), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device, host.data(), kBytes, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(testing::launchAddValue(device, kCount, 2.0f), 0);
  ASSERT_EQ(cudaMemcpy(host.data(), device, kBytes, cudaMemcpyDeviceToHost), cudaSuccess);
  cupti.popExternalCorrelation();
  ASSERT_EQ(cudaFree(device), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  cupti.stop();
  windowEndNs_ = traceClockNs();
  ASSERT_EQ(host[kCount - 1], 3.0f);

  Trace trace = sink.trace();
  ASSERT_EQ(trace.kernels.size(), 1u);
  const KernelEvent& kernel = trace.kernels[0];
  EXPECT_NE(kernel.name.find("addValueKernel"), std::string::npos) << kernel.name;
  EXPECT_EQ(kernel.gridX, testing::addValueGrid(kCount));
  EXPECT_EQ(kernel.blockX, testing::kAddValueBlock);
  expectInWindow(kernel.startNs, kernel.endNs, "the kernel");
  const ApiEvent* launch = findApi(trace, kernel.correlationId, "cudaLaunchKernel");
  ASSERT_NE(launch, nullptr) << "no cudaLaunchKernel with the kernel's correlation id";
  EXPECT_EQ(launch->threadId, traceThreadId());
  EXPECT_LE(launch->startNs, kernel.startNs);
  bool linkedToOperator = false;
  for (const auto& c : trace.correlations) {
    linkedToOperator |= c.correlationId == kernel.correlationId && c.externalId == kOperatorId;
  }
  EXPECT_TRUE(linkedToOperator) << "the kernel does not point at the pushed operator id";

  ASSERT_EQ(trace.memcpys.size(), 2u);
  EXPECT_EQ(trace.memcpys[0].copyKind, static_cast<uint8_t>(CopyKind::HostToDevice));
  EXPECT_EQ(trace.memcpys[1].copyKind, static_cast<uint8_t>(CopyKind::DeviceToHost));
  for (const auto& copy : trace.memcpys) {
    EXPECT_EQ(copy.bytes, static_cast<int64_t>(kBytes));
    expectInWindow(copy.startNs, copy.endNs, copyKindName(copy.copyKind));
    EXPECT_NE(findApi(trace, copy.correlationId, "cudaMemcpy"), nullptr);
  }
  ASSERT_EQ(trace.memsets.size(), 1u);
  EXPECT_EQ(trace.memsets[0].bytes, static_cast<int64_t>(kBytes));
  expectInWindow(trace.memsets[0].startNs, trace.memsets[0].endNs, "the memset");

  // cudaMalloc and cudaFree of the buffer (CUDA may allocate for itself too: module globals).
  auto address = reinterpret_cast<uint64_t>(device);
  const MemoryEvent* allocation = nullptr;
  const MemoryEvent* release = nullptr;
  for (const auto& m : trace.memory) {
    if (m.address != address) continue;
    (m.bytes > 0 ? allocation : release) = &m;
  }
  ASSERT_TRUE(allocation && release) << "no MEMORY2 records of the test's buffer";
  EXPECT_EQ(allocation->deviceType, 1);
  EXPECT_EQ(allocation->bytes, static_cast<int64_t>(kBytes));
  EXPECT_EQ(release->bytes, -static_cast<int64_t>(kBytes));
  EXPECT_LT(allocation->timestampNs, release->timestampNs);
  EXPECT_GE(allocation->totalAllocatedBytes, static_cast<int64_t>(kBytes));
  for (const auto& m : trace.memory) expectInWindow(m.timestampNs, m.timestampNs, "memory");
  for (const auto& call : trace.apiCalls) expectInWindow(call.startNs, call.endNs, call.name);

  EXPECT_EQ(trace.meta["gpu_clock_alignment"], "cupti_timestamp_callback");
  EXPECT_EQ(trace.meta["cupti"].rfind("active", 0), 0u) << trace.meta["cupti"];
  ASSERT_EQ(trace.sources.size(), 1u);
  EXPECT_EQ(trace.sources[0].source, "cupti");
  EXPECT_GE(trace.sources[0].events, 6);
  EXPECT_EQ(trace.sources[0].dropped, 0);
}

TEST_F(CuptiGpuTest, NvtxRangesArriveAsMarkersWhenCuptiIsNvtxsInjection) {
  // NVTX reads this once, at the first NVTX call of the process: none happened before.
  ASSERT_EQ(setenv("NVTX_INJECTION64_PATH", MOEPROF_CUPTI_LIBRARY, 1), 0);
  TraceBuffer sink;
  CuptiSource cupti;
  windowBeginNs_ = traceClockNs();
  cupti.start(sink);
  EXPECT_TRUE(cupti.capturesNvtx());
  nvtxDomainHandle_t domain = nvtxDomainCreateA("moeprof");
  nvtxRangePushA("outer");
  nvtxMarkA("halfway");
  nvtxEventAttributes_t attributes{};
  attributes.version = NVTX_VERSION;
  attributes.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attributes.messageType = NVTX_MESSAGE_TYPE_ASCII;
  attributes.message.ascii = "inner";
  nvtxDomainRangePushEx(domain, &attributes);
  nvtxDomainRangePop(domain);
  nvtxRangePop();
  cupti.stop();
  windowEndNs_ = traceClockNs();

  Trace trace = sink.trace();
  auto find = [&](const std::string& text) -> const RangeEvent* {
    auto it = std::find_if(trace.ranges.begin(), trace.ranges.end(),
                           [&](const RangeEvent& r) { return r.text == text; });
    return it == trace.ranges.end() ? nullptr : &*it;
  };
  const RangeEvent* outer = find("outer");
  const RangeEvent* inner = find("inner");
  const RangeEvent* mark = find("halfway");
  ASSERT_TRUE(outer && inner && mark) << trace.ranges.size() << " ranges recorded";
  EXPECT_FALSE(outer->isMark);
  EXPECT_TRUE(mark->isMark);
  EXPECT_EQ(inner->domain, "moeprof");
  EXPECT_EQ(outer->threadId, traceThreadId());
  expectInWindow(outer->startNs, outer->endNs, "outer");
  EXPECT_LE(outer->startNs, inner->startNs);
  EXPECT_LE(inner->endNs, outer->endNs);
  EXPECT_LE(outer->startNs, mark->startNs);
}

}  // namespace
}  // namespace moeprof::collector
