#include "analysis/trace_summary.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "analysis/trace_loader.h"
#include "collector/store/trace_store.h"
#include "reports/trace_summary_report.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "tests/support/synthetic_trace.h"

namespace moeprof::analysis {
namespace {

using collector::CopyKind;
using moeprof::testing::inputErrorMessage;
using moeprof::testing::op;

collector::MemcpyEvent copy(CopyKind kind, int64_t bytes, int64_t start, int64_t end) {
  collector::MemcpyEvent event;
  event.copyKind = static_cast<uint8_t>(kind);
  event.bytes = bytes;
  event.startNs = start;
  event.endNs = end;
  return event;
}

// Totals that are easy to work out by hand: see each test.
collector::Trace handMadeTrace() {
  collector::Trace trace;
  trace.meta["source"] = "test";
  for (auto [name, start, end] : {std::tuple{"gemm", 1000, 1100}, std::tuple{"topk", 1100, 1500},
                                  std::tuple{"gemm", 2000, 2200}, std::tuple{"gemm", 3000, 3300}}) {
    collector::KernelEvent kernel;
    kernel.name = name;
    kernel.startNs = start;
    kernel.endNs = end;
    trace.kernels.push_back(kernel);
  }
  trace.memcpys = {copy(CopyKind::HostToDevice, 1'000'000, 0, 1000),
                   copy(CopyKind::HostToDevice, 3'000'000, 5000, 6000),
                   copy(CopyKind::DeviceToHost, 500, 7000, 7000),
                   copy(CopyKind::Unknown, 8, 10, 20)};
  trace.memcpys.push_back(copy(CopyKind::Unknown, 4096, 100, 200));
  trace.memcpys.back().copyKind = 11;  // nsys: unified memory HtoD
  trace.ranges = {{100, 300, 1, "moeprof", "gate"},
                  {400, 600, 1, "moeprof", "gate"},
                  {0, 1000, 1, "", "step"},
                  {500, 500, 1, "moeprof", "checkpoint", true}};
  // Thread 1: A [0,100] holds B [10,60] (which holds C [20,30]) and D [70,90].
  // Thread 2: A [0,50] holds E [5,15]; it overlaps thread 1's operators but is not nested in them.
  trace.operators = {op("A", 1, 0, 100), op("B", 1, 10, 60), op("C", 1, 20, 30),
                     op("D", 1, 70, 90), op("A", 2, 0, 50),  op("E", 2, 5, 15)};
  trace.memory = {{100, 1, 0, -1, 100, 100, 400},
                  {200, 1, 0, -1, 200, 300, 400},
                  {300, 1, 0, -1, -100, 200, 300},
                  {150, 1, 1, 0, 1000, 1000, 2048}};
  return trace;
}

TEST(TraceSummaryTest, KernelTimesCountsMeansAndShares) {
  TraceSummary summary = summarizeTrace(handMadeTrace());
  EXPECT_EQ(summary.kernelCount, 4);
  EXPECT_EQ(summary.kernelTotalNs, 1000);
  ASSERT_EQ(summary.kernels.size(), 2u);
  EXPECT_EQ(summary.kernels[0].name, "gemm");  // 600 ns beats topk's 400
  EXPECT_EQ(summary.kernels[0].count, 3);
  EXPECT_EQ(summary.kernels[0].totalNs, 600);
  EXPECT_DOUBLE_EQ(summary.kernels[0].meanNs, 200.0);
  EXPECT_DOUBLE_EQ(summary.kernels[0].share, 0.6);
  EXPECT_EQ(summary.kernels[1].name, "topk");
  EXPECT_DOUBLE_EQ(summary.kernels[1].share, 0.4);
  EXPECT_EQ(summary.kernelNamesOmitted, 0u);

  TraceSummary top1 = summarizeTrace(handMadeTrace(), {1});
  ASSERT_EQ(top1.kernels.size(), 1u);
  EXPECT_EQ(top1.kernels[0].name, "gemm");
  EXPECT_EQ(top1.kernelNamesOmitted, 1u);
  EXPECT_EQ(top1.kernelTotalNs, 1000);  // totals still count every kernel
}

TEST(TraceSummaryTest, CopyBytesTimesAndAchievedBandwidthPerKind) {
  TraceSummary summary = summarizeTrace(handMadeTrace());
  ASSERT_EQ(summary.copies.size(), 4u);  // by copy kind: unknown, HtoD, DtoH, UVM HtoD
  EXPECT_EQ(summary.copies[0].kind, "unknown");
  const CopyStat& upload = summary.copies[1];
  EXPECT_EQ(upload.kind, "HtoD");
  EXPECT_EQ(upload.count, 2);
  EXPECT_EQ(upload.bytes, 4'000'000);
  EXPECT_EQ(upload.totalNs, 2000);
  EXPECT_DOUBLE_EQ(upload.bytesPerSecond, 2e12);  // 4 MB in 2 us of copying
  const CopyStat& download = summary.copies[2];
  EXPECT_EQ(download.kind, "DtoH");
  EXPECT_EQ(download.totalNs, 0);
  EXPECT_EQ(download.bytesPerSecond, 0.0);  // no time measured: no bandwidth, not infinity
  EXPECT_EQ(summary.copies[3].kind, "UVM HtoD");
}

TEST(TraceSummaryTest, RangesPerDomainAndTextWithoutMarks) {
  TraceSummary summary = summarizeTrace(handMadeTrace());
  EXPECT_EQ(summary.markCount, 1);
  ASSERT_EQ(summary.ranges.size(), 2u);
  EXPECT_EQ(summary.ranges[0].text, "step");
  EXPECT_EQ(summary.ranges[0].domain, "");
  EXPECT_EQ(summary.ranges[0].totalNs, 1000);
  EXPECT_EQ(summary.ranges[1].domain, "moeprof");
  EXPECT_EQ(summary.ranges[1].text, "gate");
  EXPECT_EQ(summary.ranges[1].count, 2);
  EXPECT_EQ(summary.ranges[1].totalNs, 400);
  EXPECT_DOUBLE_EQ(summary.ranges[1].meanNs, 200.0);
}

TEST(TraceSummaryTest, OperatorSelfTimeSubtractsDirectChildrenOnTheSameThread) {
  TraceSummary summary = summarizeTrace(handMadeTrace());
  ASSERT_EQ(summary.operators.size(), 5u);
  const OperatorStat& a = summary.operators[0];
  EXPECT_EQ(a.name, "A");
  EXPECT_EQ(a.count, 2);
  EXPECT_EQ(a.totalNs, 150);
  EXPECT_EQ(a.selfNs, 70);  // (100 - 50 - 20) + (50 - 10)
  EXPECT_EQ(summary.operators[1].name, "B");
  EXPECT_EQ(summary.operators[1].selfNs, 40);  // 50 - C's 10
  EXPECT_EQ(summary.operators[2].name, "D");
  EXPECT_EQ(summary.operators[2].selfNs, 20);
  EXPECT_EQ(summary.operators[3].name, "C");  // ties by name
  EXPECT_EQ(summary.operators[4].name, "E");
  int64_t selfSum = 0;
  for (const OperatorStat& stat : summary.operators) selfSum += stat.selfNs;
  EXPECT_EQ(selfSum, 150);  // the outermost operators' time, counted once
}

TEST(TraceSummaryTest, MemoryPeaksEventCountsAndSpan) {
  TraceSummary summary = summarizeTrace(handMadeTrace());
  ASSERT_EQ(summary.memoryPeaks.size(), 2u);
  EXPECT_EQ(summary.memoryPeaks[0].deviceType, 0);
  EXPECT_EQ(summary.memoryPeaks[0].peakAllocatedBytes, 300);
  EXPECT_EQ(summary.memoryPeaks[0].peakReservedBytes, 400);
  EXPECT_EQ(summary.memoryPeaks[1].deviceType, 1);
  EXPECT_EQ(summary.memoryPeaks[1].deviceIndex, 0);
  EXPECT_EQ(summary.memoryPeaks[1].peakAllocatedBytes, 1000);
  EXPECT_EQ(summary.startNs, 0);
  EXPECT_EQ(summary.endNs, 7000);  // the DtoH copy ends last
  auto count = [&](const std::string& kind) {
    for (const EventCount& c : summary.eventCounts) {
      if (c.kind == kind) return c.events;
    }
    return int64_t{-1};
  };
  EXPECT_EQ(count("kernels"), 4);
  EXPECT_EQ(count("memcpys"), 5);
  EXPECT_EQ(count("ranges"), 4);
  EXPECT_EQ(count("operators"), 6);
  EXPECT_EQ(count("routing"), 0);

  TraceSummary empty = summarizeTrace({});
  EXPECT_EQ(empty.startNs, 0);
  EXPECT_EQ(empty.endNs, 0);
  EXPECT_TRUE(empty.kernels.empty());
}

TEST(TraceSummaryReportTest, TextAndJsonShowTheNumbers) {
  collector::Trace trace = handMadeTrace();
  std::string longName = "void very_long_kernel<" + std::string(120, 'T') + ">(int)";
  collector::KernelEvent kernel;
  kernel.name = longName;
  kernel.startNs = 0;
  kernel.endNs = 1;
  trace.kernels.push_back(kernel);
  TraceSummary summary = summarizeTrace(trace);

  std::string text = reports::traceSummaryText(summary, "hand-made");
  EXPECT_NE(text.find("trace: hand-made"), std::string::npos) << text;
  EXPECT_NE(text.find("GPU kernels (5 launches"), std::string::npos) << text;
  EXPECT_NE(text.find("59.9%"), std::string::npos) << text;  // gemm: 600 of 1001 ns
  reports::Table copies = reports::copySummaryTable(summary);
  ASSERT_EQ(copies.numRows(), 4u);
  EXPECT_EQ(copies.rows()[1][0], "HtoD");
  EXPECT_EQ(copies.rows()[1][4], "2000");  // GB/s
  EXPECT_EQ(copies.rows()[2][4], "-");     // no time, no bandwidth
  EXPECT_EQ(text.find(longName), std::string::npos) << "long names are cut in tables";
  EXPECT_NE(text.find("void very_long_kernel<TTT"), std::string::npos);

  nlohmann::json json = nlohmann::json::parse(reports::traceSummaryJson(summary, "hand-made"));
  EXPECT_EQ(json["trace"], "hand-made");
  EXPECT_EQ(json["kernels"]["top"][0]["name"], "gemm");
  EXPECT_EQ(json["kernels"]["top"][0]["total_ns"], 600);
  EXPECT_EQ(json["kernels"]["top"][2]["name"], longName);  // JSON keeps names whole
  EXPECT_EQ(json["copies"][1]["bytes_per_s"], 2e12);
  EXPECT_EQ(json["operators"]["top"][0]["self_ns"], 70);
  EXPECT_EQ(json["ranges"]["marks"], 1);
  EXPECT_EQ(json["event_counts"]["kernels"], 5);
  EXPECT_EQ(json["span_ns"]["duration"], 7000);
}

class TraceLoaderTest : public moeprof::testing::TempDirTest {};

TEST_F(TraceLoaderTest, ReadsARunDirectoryAndItsTraceFile) {
  std::filesystem::path run = dir_ / "run";
  std::filesystem::create_directories(run);
  {
    collector::TraceWriter writer(run / collector::kTraceFileName);
    collector::KernelEvent kernel;
    kernel.name = "gemm";
    kernel.startNs = 10;
    kernel.endNs = 30;
    writer.append(kernel);
    writer.append(op("aten::addmm", 7, 0, 40));
    writer.close();
  }
  for (const std::filesystem::path& input : {run, run / collector::kTraceFileName}) {
    collector::Trace trace = loadTrace(input);
    EXPECT_EQ(trace.meta.at("source"), "moeprof");
    EXPECT_EQ(trace.meta.at("schema_version"), std::to_string(collector::kTraceSchemaVersion));
    ASSERT_EQ(trace.kernels.size(), 1u);
    EXPECT_EQ(trace.kernels[0].name, "gemm");
    ASSERT_EQ(trace.operators.size(), 1u);
    TraceSummary summary = summarizeTrace(trace);
    EXPECT_EQ(summary.kernelTotalNs, 20);
    EXPECT_EQ(summary.operators[0].selfNs, 40);
  }

  auto result = moeprof::testing::runMoeprof("summary " + run.string());
  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NE(result.output.find("aten::addmm"), std::string::npos) << result.output;
}

TEST_F(TraceLoaderTest, RejectsWhatIsNotATrace) {
  std::string missing = inputErrorMessage([&] { loadTrace(dir_ / "nowhere"); });
  EXPECT_NE(missing.find((dir_ / "nowhere").string()), std::string::npos) << missing;
  EXPECT_NE(missing.find("Nsight Systems"), std::string::npos) << missing;

  std::string noTrace = inputErrorMessage([&] { loadTrace(dir_); });
  EXPECT_NE(noTrace.find("has no trace.sqlite"), std::string::npos) << noTrace;
  EXPECT_NE(noTrace.find("--trace"), std::string::npos) << noTrace;
}

}  // namespace
}  // namespace moeprof::analysis
