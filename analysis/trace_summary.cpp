#include "analysis/trace_summary.h"

#include <algorithm>
#include <limits>
#include <string>
#include <unordered_map>
#include <utility>

#include "collector/errors.h"

namespace moeprof::analysis {

namespace {

using collector::Trace;

// Sorts by total time (longest first, then by key for a stable report) and keeps the first
// topN; returns how many were left out.
template <typename Stat, typename Key>
size_t keepTop(std::vector<Stat>& stats, size_t topN, Key key) {
  std::sort(stats.begin(), stats.end(), [&](const Stat& a, const Stat& b) {
    if (a.totalNs != b.totalNs) return a.totalNs > b.totalNs;
    return key(a) < key(b);
  });
  if (topN == 0 || stats.size() <= topN) return 0;
  size_t omitted = stats.size() - topN;
  stats.resize(topN);
  return omitted;
}

void summarizeKernels(const Trace& trace, size_t topN, TraceSummary& summary) {
  std::unordered_map<std::string, size_t> index;
  std::vector<KernelStat> stats;
  for (const collector::KernelEvent& kernel : trace.kernels) {
    auto [it, added] = index.try_emplace(kernel.name, stats.size());
    if (added) stats.push_back({kernel.name});
    KernelStat& stat = stats[it->second];
    ++stat.count;
    stat.totalNs += kernel.endNs - kernel.startNs;
    summary.kernelTotalNs += kernel.endNs - kernel.startNs;
  }
  summary.kernelCount = static_cast<int64_t>(trace.kernels.size());
  for (KernelStat& stat : stats) {
    stat.meanNs = static_cast<double>(stat.totalNs) / static_cast<double>(stat.count);
    stat.share = summary.kernelTotalNs > 0 ? static_cast<double>(stat.totalNs) /
                                                 static_cast<double>(summary.kernelTotalNs)
                                           : 0.0;
  }
  summary.kernelNamesOmitted =
      keepTop(stats, topN, [](const KernelStat& stat) { return stat.name; });
  summary.kernels = std::move(stats);
}

void summarizeCopies(const Trace& trace, TraceSummary& summary) {
  std::map<uint8_t, CopyStat> byKind;
  for (const collector::MemcpyEvent& copy : trace.memcpys) {
    CopyStat& stat = byKind[copy.copyKind];
    stat.copyKind = copy.copyKind;
    ++stat.count;
    stat.bytes += copy.bytes;
    stat.totalNs += copy.endNs - copy.startNs;
  }
  for (auto& [kind, stat] : byKind) {
    stat.kind = collector::copyKindName(kind);
    if (stat.totalNs > 0) {
      stat.bytesPerSecond =
          static_cast<double>(stat.bytes) * 1e9 / static_cast<double>(stat.totalNs);
    }
    summary.copies.push_back(stat);
  }
}

void summarizeRanges(const Trace& trace, size_t topN, TraceSummary& summary) {
  std::map<std::pair<std::string, std::string>, RangeStat> byKey;
  for (const collector::RangeEvent& range : trace.ranges) {
    if (range.isMark) {
      ++summary.markCount;
      continue;
    }
    RangeStat& stat = byKey[{range.domain, range.text}];
    stat.domain = range.domain;
    stat.text = range.text;
    ++stat.count;
    stat.totalNs += range.endNs - range.startNs;
  }
  std::vector<RangeStat> stats;
  for (auto& [key, stat] : byKey) {
    stat.meanNs = static_cast<double>(stat.totalNs) / static_cast<double>(stat.count);
    stats.push_back(std::move(stat));
  }
  summary.rangesOmitted =
      keepTop(stats, topN, [](const RangeStat& stat) { return std::pair(stat.domain, stat.text); });
  summary.ranges = std::move(stats);
}

// Time of the operators nested directly inside each operator, found per thread with a stack
// of the operators that are still open.
std::vector<int64_t> directChildTime(const std::vector<collector::OperatorEvent>& operators) {
  std::unordered_map<uint64_t, std::vector<size_t>> byThread;
  for (size_t i = 0; i < operators.size(); ++i) byThread[operators[i].threadId].push_back(i);
  std::vector<int64_t> childNs(operators.size(), 0);
  for (auto& [thread, indices] : byThread) {
    std::sort(indices.begin(), indices.end(), [&](size_t a, size_t b) {
      const auto& x = operators[a];
      const auto& y = operators[b];
      if (x.startNs != y.startNs) return x.startNs < y.startNs;
      if (x.endNs != y.endNs) return x.endNs > y.endNs;  // the enclosing one first
      return a < b;
    });
    std::vector<size_t> open;
    for (size_t i : indices) {
      const auto& op = operators[i];
      while (!open.empty() && operators[open.back()].endNs < op.endNs) open.pop_back();
      if (!open.empty()) childNs[open.back()] += op.endNs - op.startNs;
      open.push_back(i);
    }
  }
  return childNs;
}

void summarizeOperators(const Trace& trace, size_t topN, TraceSummary& summary) {
  std::vector<int64_t> childNs = directChildTime(trace.operators);
  std::unordered_map<std::string, size_t> index;
  std::vector<OperatorStat> stats;
  for (size_t i = 0; i < trace.operators.size(); ++i) {
    const collector::OperatorEvent& op = trace.operators[i];
    auto [it, added] = index.try_emplace(op.name, stats.size());
    if (added) stats.push_back({op.name});
    OperatorStat& stat = stats[it->second];
    int64_t durationNs = op.endNs - op.startNs;
    ++stat.count;
    stat.totalNs += durationNs;
    stat.selfNs += std::max<int64_t>(0, durationNs - childNs[i]);
    summary.operatorSelfTotalNs += std::max<int64_t>(0, durationNs - childNs[i]);
  }
  summary.operatorCalls = static_cast<int64_t>(trace.operators.size());
  summary.operatorsOmitted =
      keepTop(stats, topN, [](const OperatorStat& stat) { return stat.name; });
  summary.operators = std::move(stats);
}

void summarizeMemory(const Trace& trace, TraceSummary& summary) {
  std::map<std::pair<int8_t, int8_t>, MemoryPeak> peaks;
  for (const collector::MemoryEvent& event : trace.memory) {
    MemoryPeak& peak = peaks[{event.deviceType, event.deviceIndex}];
    peak.deviceType = event.deviceType;
    peak.deviceIndex = event.deviceIndex;
    peak.peakAllocatedBytes = std::max(peak.peakAllocatedBytes, event.totalAllocatedBytes);
    peak.peakReservedBytes = std::max(peak.peakReservedBytes, event.totalReservedBytes);
  }
  for (const auto& [device, peak] : peaks) summary.memoryPeaks.push_back(peak);
}

void findSpan(const Trace& trace, TraceSummary& summary) {
  int64_t first = std::numeric_limits<int64_t>::max();
  int64_t last = std::numeric_limits<int64_t>::min();
  auto extend = [&](int64_t start, int64_t end) {
    first = std::min(first, start);
    last = std::max(last, end);
  };
  auto spans = [&](const auto& events) {
    for (const auto& event : events) extend(event.startNs, event.endNs);
  };
  auto instants = [&](const auto& events) {
    for (const auto& event : events) extend(event.timestampNs, event.timestampNs);
  };
  spans(trace.operators);
  spans(trace.ranges);
  spans(trace.kernels);
  spans(trace.memcpys);
  spans(trace.memsets);
  spans(trace.apiCalls);
  spans(trace.overheads);
  spans(trace.transfers);
  instants(trace.memory);
  instants(trace.routing);
  instants(trace.cache);
  if (first <= last) {
    summary.startNs = first;
    summary.endNs = last;
  }
}

std::vector<EventCount> countEvents(const Trace& trace) {
  auto count = [](const auto& events) { return static_cast<int64_t>(events.size()); };
  return {{"operators", count(trace.operators)}, {"ranges", count(trace.ranges)},
          {"memory", count(trace.memory)},       {"kernels", count(trace.kernels)},
          {"memcpys", count(trace.memcpys)},     {"memsets", count(trace.memsets)},
          {"apiCalls", count(trace.apiCalls)},   {"correlations", count(trace.correlations)},
          {"overheads", count(trace.overheads)}, {"routing", count(trace.routing)},
          {"cache", count(trace.cache)},         {"transfers", count(trace.transfers)},
          {"sources", count(trace.sources)}};
}

// An event that ends before it starts (a hand-edited or foreign store, a broken clock) would
// turn totals negative: refused, naming the first one.
void requireEndsAfterStarts(const Trace& trace) {
  auto check = [](const auto& events, const char* what) {
    for (const auto& event : events) {
      if (event.endNs >= event.startNs) continue;
      throw InputError(std::string("the trace holds ") + what + " that ends before it starts " +
                       "(start " + std::to_string(event.startNs) + " ns, end " +
                       std::to_string(event.endNs) +
                       " ns): it is corrupt, and its durations would be negative");
    }
  };
  check(trace.operators, "an operator");
  check(trace.ranges, "a range");
  check(trace.kernels, "a kernel");
  check(trace.memcpys, "a copy");
  check(trace.memsets, "a memset");
  check(trace.apiCalls, "an API call");
  check(trace.overheads, "an overhead record");
  check(trace.transfers, "an expert transfer");
}

}  // namespace

TraceSummary summarizeTrace(const collector::Trace& trace, const SummaryOptions& options) {
  requireEndsAfterStarts(trace);
  TraceSummary summary;
  summary.meta = trace.meta;
  findSpan(trace, summary);
  summarizeKernels(trace, options.topN, summary);
  summarizeCopies(trace, summary);
  summarizeRanges(trace, options.topN, summary);
  summarizeOperators(trace, options.topN, summary);
  summarizeMemory(trace, summary);
  for (const collector::TransferEvent& transfer : trace.transfers) {
    ++summary.transferCount;
    summary.transferBytes += transfer.bytes;
  }
  summary.eventCounts = countEvents(trace);
  return summary;
}

RankedTraceSummary summarizeRankTraces(const std::vector<RankTrace>& ranks,
                                       const SummaryOptions& options) {
  RankedTraceSummary out;
  out.topN = options.topN;
  out.merged =
      summarizeTrace(ranks.size() == 1 ? ranks.front().trace : mergeRankTraces(ranks), options);
  for (const RankTrace& rank : ranks) {
    out.ranks.push_back(
        {rank.rank, rank.file.filename().string(), summarizeTrace(rank.trace, {0})});
  }
  return out;
}

}  // namespace moeprof::analysis
