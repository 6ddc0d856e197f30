#pragma once
// A first look at any trace (a moeprof run or an Nsight Systems export): where GPU time went per
// kernel, what the copies moved and how fast, NVTX range and operator times, memory peaks and
// how many events of each kind the trace holds. Plain numbers: reports/trace_summary_report.h
// renders them, `moeprof summary` prints them.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "analysis/trace_loader.h"
#include "collector/trace_events.h"

namespace moeprof::analysis {

// GPU time of one kernel name (all launches of it, on every device and stream).
struct KernelStat {
  std::string name;
  int64_t count = 0;
  int64_t totalNs = 0;
  double meanNs = 0;
  double share = 0;  // totalNs / all kernels' time, 0..1
};

// Copies of one kind (HtoD, DtoH, ...). Bandwidth is bytes over time spent copying, the rate
// the copies achieved while they ran (not over the trace's span).
struct CopyStat {
  uint8_t copyKind = 0;  // collector::CopyKind numbering
  std::string kind;      // "HtoD", ...
  int64_t count = 0;
  int64_t bytes = 0;
  int64_t totalNs = 0;
  double bytesPerSecond = 0;  // 0 when totalNs is 0
};

// NVTX ranges with one text in one domain ("" = the default domain). Marks are not ranges.
struct RangeStat {
  std::string domain;
  std::string text;
  int64_t count = 0;
  int64_t totalNs = 0;
  double meanNs = 0;
};

// Operators of one name. Self time leaves out the time of operators nested directly inside
// (on the same thread, within its start and end), so self times add up to the outermost time.
struct OperatorStat {
  std::string name;
  int64_t count = 0;
  int64_t totalNs = 0;
  int64_t selfNs = 0;
};

// The most memory held at once on one device, after any allocation.
struct MemoryPeak {
  int8_t deviceType = 0;  // 0 = CPU, 1 = CUDA
  int8_t deviceIndex = -1;
  int64_t peakAllocatedBytes = 0;
  int64_t peakReservedBytes = 0;
};

// How many events of one kind the trace holds (the collector::Trace member's name).
struct EventCount {
  std::string kind;  // "kernels", "memcpys", "ranges", ...
  int64_t events = 0;
};

struct TraceSummary {
  std::map<std::string, std::string> meta;  // the trace's own (source, clock, GPUs, ...)
  // From the earliest start to the latest end of any timed event; both 0 for an empty trace.
  int64_t startNs = 0;
  int64_t endNs = 0;
  int64_t kernelCount = 0;
  int64_t kernelTotalNs = 0;
  std::vector<KernelStat> kernels;  // by total time, longest first; the top N
  size_t kernelNamesOmitted = 0;    // kernel names beyond the top N
  std::vector<CopyStat> copies;     // by copy kind
  std::vector<RangeStat> ranges;    // by total time; the top N
  size_t rangesOmitted = 0;
  int64_t markCount = 0;                // NVTX marks (instants)
  std::vector<OperatorStat> operators;  // by total time; the top N
  size_t operatorsOmitted = 0;
  int64_t operatorCalls = 0;        // every operator, shown or not
  int64_t operatorSelfTotalNs = 0;  // their self times: the time spent in operators
  int64_t transferCount = 0;        // expert transfers (Expert Buffering reads)
  int64_t transferBytes = 0;
  std::vector<MemoryPeak> memoryPeaks;  // by device type, then index
  std::vector<EventCount> eventCounts;  // every kind, in collector::Trace's member order
};

struct SummaryOptions {
  size_t topN = 10;  // rows kept per kernel, range and operator list; 0 keeps all
};

// Throws InputError naming the event when one ends before it starts (negative durations).
TraceSummary summarizeTrace(const collector::Trace& trace, const SummaryOptions& options = {});

// One rank of a multi-rank run (moeprof run --ranks N): its own summary with every row kept, so
// that the merged tables can show each rank's share of a row.
struct RankSummary {
  int rank = 0;
  std::string file;  // its trace file's name in the run directory
  TraceSummary summary;
};

// A run's traces, all ranks together (`merged`, top N rows, its meta "ranks" = their count) and
// each rank on its own (one entry for a single trace).
struct RankedTraceSummary {
  TraceSummary merged;
  std::vector<RankSummary> ranks;
  size_t topN = 10;
};

RankedTraceSummary summarizeRankTraces(const std::vector<RankTrace>& ranks,
                                       const SummaryOptions& options = {});

}  // namespace moeprof::analysis
