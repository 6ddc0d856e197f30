// The NVTX source: NVTX3 calls from anywhere in the process reach the trace through NVTX's
// injection interface, in-process or through NVTX_INJECTION64_PATH, and only when moeprof is
// the tool NVTX attached to.
#include <gtest/gtest.h>
#include <nvtx3/nvToolsExt.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "collector/sources/nvtx_source.h"
#include "collector/store/trace_reader.h"
#include "collector/store/trace_store.h"
#include "collector/trace_sink.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

using collector::NvtxSource;
using collector::RangeEvent;
using collector::TraceBuffer;

nvtxEventAttributes_t attributesFor(nvtxStringHandle_t text) {
  nvtxEventAttributes_t attributes{};
  attributes.version = NVTX_VERSION;
  attributes.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attributes.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
  attributes.message.registered = text;
  return attributes;
}

const RangeEvent& findRange(const std::vector<RangeEvent>& ranges, const std::string& text) {
  for (const auto& range : ranges) {
    if (range.text == text) return range;
  }
  throw std::runtime_error("no range named " + text);
}

TEST(NvtxSourceTest, AttachesInProcessWithoutSetUp) {
  ASSERT_EQ(std::getenv("NVTX_INJECTION64_PATH"), nullptr) << "this test needs NVTX to itself";
  TraceBuffer buffer;
  NvtxSource source(buffer);
  EXPECT_TRUE(NvtxSource::attached());
  EXPECT_EQ(NvtxSource::route(), "moeprof (in-process injection)");
  EXPECT_EQ(buffer.trace().meta.at("nvtx"), NvtxSource::route());
}

TEST(NvtxSourceTest, CapturesNestedRangesMarksAndDomains) {
  TraceBuffer buffer;
  {
    NvtxSource source(buffer);
    nvtxDomainHandle_t domain = nvtxDomainCreateA("moe.test");
    nvtxStringHandle_t registered = nvtxDomainRegisterStringA(domain, "registered");
    EXPECT_EQ(nvtxRangePushA("outer"), 0);
    auto attributes = attributesFor(registered);
    EXPECT_EQ(nvtxDomainRangePushEx(domain, &attributes), 1);
    nvtxMarkA("mark");
    EXPECT_EQ(nvtxDomainRangePop(domain), 1) << "pops the domain's range, not the default one";
    EXPECT_EQ(nvtxRangePop(), 0);
    EXPECT_LT(nvtxRangePop(), 0) << "a pop without a push is refused";
  }
  auto trace = buffer.trace();
  ASSERT_EQ(trace.ranges.size(), 3u);
  const auto& outer = findRange(trace.ranges, "outer");
  const auto& inner = findRange(trace.ranges, "registered");
  const auto& mark = findRange(trace.ranges, "mark");
  EXPECT_EQ(outer.domain, "");
  EXPECT_EQ(inner.domain, "moe.test");
  EXPECT_TRUE(mark.isMark);
  EXPECT_EQ(mark.startNs, mark.endNs);
  EXPECT_FALSE(inner.isMark);
  EXPECT_LE(outer.startNs, inner.startNs);
  EXPECT_LE(inner.endNs, outer.endNs);
  EXPECT_GE(mark.startNs, inner.startNs);
  EXPECT_LE(mark.startNs, inner.endNs);
  EXPECT_EQ(outer.threadId, static_cast<uint64_t>(syscall(SYS_gettid)));
  ASSERT_EQ(trace.sources.size(), 1u);
  EXPECT_EQ(trace.sources[0].source, "nvtx");
  EXPECT_EQ(trace.sources[0].events, 3);
  EXPECT_EQ(trace.sources[0].dropped, 1) << "the unmatched pop";
}

TEST(NvtxSourceTest, StartEndRangesMayEndOnAnotherThread) {
  TraceBuffer buffer;
  uint64_t starter = static_cast<uint64_t>(syscall(SYS_gettid));
  {
    NvtxSource source(buffer);
    nvtxRangeId_t id = nvtxRangeStartA("transfer");
    std::thread([id] { nvtxRangeEnd(id); }).join();
    nvtxRangeEnd(id);  // a second end of the same range is dropped
    nvtxNameOsThreadA(1234, "io thread");
  }
  auto trace = buffer.trace();
  ASSERT_EQ(trace.ranges.size(), 1u);
  EXPECT_EQ(trace.ranges[0].text, "transfer");
  EXPECT_EQ(trace.ranges[0].threadId, starter);
  EXPECT_EQ(trace.meta.at("thread_name.1234"), "io thread");
  EXPECT_EQ(trace.sources.at(0).dropped, 1);
}

TEST(NvtxSourceTest, RecordsNothingWhenNoSourceIsActive) {
  TraceBuffer buffer;
  { NvtxSource source(buffer); }
  nvtxRangePushA("after");
  nvtxRangePop();
  EXPECT_TRUE(buffer.trace().ranges.empty());
  TraceBuffer other;
  NvtxSource first(other);
  EXPECT_THROW(NvtxSource second(other), std::logic_error);
}

using NvtxRouteTest = testing::TempDirTest;

// The environment route: NVTX loads libmoeprof_nvtx_injection.so, which hands over to the
// collector of the moeprof process.
TEST_F(NvtxRouteTest, InjectionLibraryNamedByEnvironmentReachesTheCollector) {
  std::string command = "env NVTX_INJECTION64_PATH=" MOEPROF_NVTX_INJECTION_LIBRARY " " +
                        std::string(MOEPROF_BINARY) + " run --preset lm-tiny --trace ops " +
                        "--repeats 1 --warmup 0 --out " + path("run") + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  collector::TraceReader trace(std::filesystem::path(path("run")) / collector::kTraceFileName);
  EXPECT_EQ(trace.meta("nvtx"), "moeprof (NVTX_INJECTION64_PATH)");
  auto ranges = trace.ranges();
  EXPECT_EQ(findRange(ranges, "lm.forward").domain, "moeprof");
  EXPECT_NO_THROW(findRange(ranges, "gate"));
}

// NVTX attaches to the tool the environment names, even a broken one, and then moeprof records
// no ranges rather than a second copy; the trace says who had them.
TEST_F(NvtxRouteTest, AnotherToolInTheEnvironmentKeepsTheRanges) {
  std::string command = "env NVTX_INJECTION64_PATH=/nonexistent/libother_tool.so " +
                        std::string(MOEPROF_BINARY) + " run --preset lm-tiny --trace ops " +
                        "--repeats 1 --warmup 0 --out " + path("run") + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  collector::TraceReader trace(std::filesystem::path(path("run")) / collector::kTraceFileName);
  EXPECT_EQ(trace.meta("nvtx"),
            "another tool (NVTX_INJECTION64_PATH=/nonexistent/libother_tool.so)");
  EXPECT_TRUE(trace.ranges().empty());
  EXPECT_FALSE(trace.operators().empty());
}

}  // namespace
}  // namespace moeprof
