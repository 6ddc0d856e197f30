#include "reports/trace_summary_report.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

namespace moeprof::reports {

namespace {

using analysis::TraceSummary;

constexpr int kDigits = 4;

std::string milliseconds(int64_t ns) {
  return formatNumber(static_cast<double>(ns) / 1e6, kDigits);
}
std::string microseconds(double ns) {
  return formatNumber(ns / 1e3, kDigits);
}

// Cuts after kMaxNameWidth code points, never inside a UTF-8 sequence.
std::string shortened(const std::string& name) {
  size_t codePoints = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    bool starts = (static_cast<unsigned char>(name[i]) & 0xc0) != 0x80;
    if (starts && ++codePoints > kMaxNameWidth - 3) {
      // Only cut when what is left is longer than the "..." replacing it.
      size_t rest = 0;
      for (size_t j = i; j < name.size(); ++j) {
        rest += (static_cast<unsigned char>(name[j]) & 0xc0) != 0x80;
      }
      return rest <= 3 ? name : name.substr(0, i) + "...";
    }
  }
  return name;
}

std::string deviceLabel(int8_t deviceType, int8_t deviceIndex) {
  std::string type = deviceType == 1   ? "cuda"
                     : deviceType == 0 ? "cpu"
                                       : std::to_string(deviceType);
  return deviceIndex >= 0 ? type + ":" + std::to_string(deviceIndex) : type;
}

std::string metaOr(const TraceSummary& summary, const std::string& key,
                   const std::string& fallback) {
  auto found = summary.meta.find(key);
  return found != summary.meta.end() ? found->second : fallback;
}

void section(std::ostringstream& out, const std::string& title, const Table& table,
             const std::string& empty, size_t omitted = 0) {
  out << "\n" << title << "\n";
  if (table.numRows() == 0) {
    out << "  " << empty << "\n";
    return;
  }
  out << table.toText();
  if (omitted > 0) out << "(" << omitted << " more not shown; --top 0 shows all)\n";
}

using Json = nlohmann::ordered_json;

Json kernelJson(const analysis::KernelStat& stat) {
  return {{"name", stat.name},
          {"count", stat.count},
          {"total_ns", stat.totalNs},
          {"mean_ns", stat.meanNs},
          {"share", stat.share}};
}

Json copyJson(const analysis::CopyStat& stat) {
  return {{"kind", stat.kind},        {"copy_kind", stat.copyKind},
          {"count", stat.count},      {"bytes", stat.bytes},
          {"total_ns", stat.totalNs}, {"bytes_per_s", stat.bytesPerSecond}};
}

Json rangeJson(const analysis::RangeStat& stat) {
  return {{"domain", stat.domain},
          {"text", stat.text},
          {"count", stat.count},
          {"total_ns", stat.totalNs},
          {"mean_ns", stat.meanNs}};
}

Json operatorJson(const analysis::OperatorStat& stat) {
  return {{"name", stat.name},
          {"count", stat.count},
          {"total_ns", stat.totalNs},
          {"self_ns", stat.selfNs}};
}

Json memoryPeakJson(const analysis::MemoryPeak& peak) {
  return {{"device_type", peak.deviceType},
          {"device_index", peak.deviceIndex},
          {"peak_allocated_bytes", peak.peakAllocatedBytes},
          {"peak_reserved_bytes", peak.peakReservedBytes}};
}

template <typename Stat>
Json rowsJson(const std::vector<Stat>& stats, Json (*toJson)(const Stat&)) {
  Json rows = Json::array();
  for (const Stat& stat : stats) rows.push_back(toJson(stat));
  return rows;
}

}  // namespace

Table kernelSummaryTable(const TraceSummary& summary) {
  Table table({"kernel", "launches", "total ms", "mean us", "share"},
              {Align::Left, Align::Right, Align::Right, Align::Right, Align::Right});
  for (const analysis::KernelStat& stat : summary.kernels) {
    table.addRow({shortened(stat.name), std::to_string(stat.count), milliseconds(stat.totalNs),
                  microseconds(stat.meanNs), formatNumber(stat.share * 100.0, 3) + "%"});
  }
  return table;
}

Table copySummaryTable(const TraceSummary& summary) {
  Table table({"copy kind", "copies", "bytes", "total ms", "GB/s"},
              {Align::Left, Align::Right, Align::Right, Align::Right, Align::Right});
  for (const analysis::CopyStat& stat : summary.copies) {
    table.addRow({stat.kind, std::to_string(stat.count),
                  formatBytes(static_cast<double>(stat.bytes)), milliseconds(stat.totalNs),
                  stat.totalNs > 0 ? formatNumber(stat.bytesPerSecond / 1e9, kDigits) : "-"});
  }
  return table;
}

Table rangeSummaryTable(const TraceSummary& summary) {
  Table table({"domain", "range", "count", "total ms", "mean us"},
              {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right});
  for (const analysis::RangeStat& stat : summary.ranges) {
    table.addRow({stat.domain.empty() ? "(default)" : stat.domain, shortened(stat.text),
                  std::to_string(stat.count), milliseconds(stat.totalNs),
                  microseconds(stat.meanNs)});
  }
  return table;
}

Table operatorSummaryTable(const TraceSummary& summary) {
  Table table({"operator", "calls", "total ms", "self ms"},
              {Align::Left, Align::Right, Align::Right, Align::Right});
  for (const analysis::OperatorStat& stat : summary.operators) {
    table.addRow({shortened(stat.name), std::to_string(stat.count), milliseconds(stat.totalNs),
                  milliseconds(stat.selfNs)});
  }
  return table;
}

Table memoryPeakTable(const TraceSummary& summary) {
  Table table({"device", "peak allocated", "peak reserved"},
              {Align::Left, Align::Right, Align::Right});
  for (const analysis::MemoryPeak& peak : summary.memoryPeaks) {
    table.addRow({deviceLabel(peak.deviceType, peak.deviceIndex),
                  formatBytes(static_cast<double>(peak.peakAllocatedBytes)),
                  formatBytes(static_cast<double>(peak.peakReservedBytes))});
  }
  return table;
}

Table eventCountTable(const TraceSummary& summary) {
  Table table({"events", "count"}, {Align::Left, Align::Right});
  for (const analysis::EventCount& count : summary.eventCounts) {
    if (count.events > 0) table.addRow({count.kind, std::to_string(count.events)});
  }
  return table;
}

std::string traceSummaryText(const TraceSummary& summary, const std::string& label) {
  std::ostringstream out;
  out << "trace: " << label << "\nsource: " << metaOr(summary, "source", "unknown");
  if (auto version = metaOr(summary, "nsys.EXPORT_PRODUCT_VERSION", ""); !version.empty()) {
    out << " (Nsight Systems " << version << ")";
  }
  out << "\nspan: " << milliseconds(summary.endNs - summary.startNs) << " ms"
      << "\nclock: " << metaOr(summary, "clock", "unknown") << "\n";
  for (const auto& [key, value] : summary.meta) {
    // "gpu.<CUDA device>.name"
    if (key.starts_with("gpu.") && key.ends_with(".name") && key.size() > 9) {
      out << "gpu " << key.substr(4, key.size() - 9) << ": " << value << "\n";
    }
  }
  section(out,
          "GPU kernels (" + std::to_string(summary.kernelCount) + " launches, " +
              milliseconds(summary.kernelTotalNs) + " ms)",
          kernelSummaryTable(summary), "no kernels in this trace", summary.kernelNamesOmitted);
  section(out, "Memory copies", copySummaryTable(summary), "no copies in this trace");
  std::string marks = summary.markCount == 0 ? ""
                                             : " (plus " + std::to_string(summary.markCount) +
                                                   (summary.markCount == 1 ? " mark)" : " marks)");
  section(out, "NVTX ranges" + marks, rangeSummaryTable(summary), "no ranges in this trace",
          summary.rangesOmitted);
  section(out, "Operators", operatorSummaryTable(summary), "no operators in this trace",
          summary.operatorsOmitted);
  section(out, "Memory peaks", memoryPeakTable(summary), "no memory events in this trace");
  section(out, "Events", eventCountTable(summary), "the trace is empty");
  return out.str();
}

namespace {

Json summaryObject(const TraceSummary& summary, const std::string& label) {
  Json root;
  root["trace"] = label;
  root["source"] = metaOr(summary, "source", "unknown");
  root["span_ns"] = {{"start", summary.startNs},
                     {"end", summary.endNs},
                     {"duration", summary.endNs - summary.startNs}};
  root["meta"] = summary.meta;
  root["kernels"] = {{"count", summary.kernelCount},
                     {"total_ns", summary.kernelTotalNs},
                     {"omitted", summary.kernelNamesOmitted},
                     {"top", rowsJson(summary.kernels, kernelJson)}};
  root["copies"] = rowsJson(summary.copies, copyJson);
  root["ranges"] = {{"marks", summary.markCount},
                    {"omitted", summary.rangesOmitted},
                    {"top", rowsJson(summary.ranges, rangeJson)}};
  root["operators"] = {{"calls", summary.operatorCalls},
                       {"self_total_ns", summary.operatorSelfTotalNs},
                       {"omitted", summary.operatorsOmitted},
                       {"top", rowsJson(summary.operators, operatorJson)}};
  root["transfers"] = {{"count", summary.transferCount}, {"bytes", summary.transferBytes}};
  root["memory_peaks"] = rowsJson(summary.memoryPeaks, memoryPeakJson);
  root["event_counts"] = Json::object();
  for (const analysis::EventCount& count : summary.eventCounts) {
    root["event_counts"][count.kind] = count.events;
  }
  return root;
}

// `stats` cut to the first topN (0: all), as summarizeTrace cuts them.
template <typename Stat>
std::vector<Stat> firstRows(const std::vector<Stat>& stats, size_t topN) {
  if (topN == 0 || stats.size() <= topN) return stats;
  return {stats.begin(), stats.begin() + static_cast<std::ptrdiff_t>(topN)};
}

TraceSummary cutToTop(TraceSummary summary, size_t topN) {
  auto cut = [&](auto& stats, size_t& omitted) {
    omitted += stats.size() - firstRows(stats, topN).size();
    stats = firstRows(stats, topN);
  };
  cut(summary.kernels, summary.kernelNamesOmitted);
  cut(summary.ranges, summary.rangesOmitted);
  cut(summary.operators, summary.operatorsOmitted);
  return summary;
}

// `base` with a column per rank appended (the first kMaxRankColumns), holding what `cell`
// gives for that rank and the row's position.
template <typename Cell>
Table withRankColumns(const Table& base, const analysis::RankedTraceSummary& summary,
                      const std::string& unit, Cell cell) {
  auto headers = base.headers();
  auto alignments = base.alignments();
  const size_t shown = std::min(summary.ranks.size(), kMaxRankColumns);
  for (size_t r = 0; r < shown; ++r) {
    headers.push_back("rank " + std::to_string(summary.ranks[r].rank) + " " + unit);
    alignments.push_back(Align::Right);
  }
  Table table(headers, alignments);
  for (size_t row = 0; row < base.numRows(); ++row) {
    auto cells = base.rows()[row];
    for (size_t r = 0; r < shown; ++r) cells.push_back(cell(summary.ranks[r].summary, row));
    table.addRow(cells);
  }
  return table;
}

// The total of the row of `stats` that `matches`, in ms, or "-" when the rank has none.
template <typename Stat, typename Matches, typename Value>
std::string rankCell(const std::vector<Stat>& stats, Matches matches, Value value) {
  auto found = std::find_if(stats.begin(), stats.end(), matches);
  return found == stats.end() ? "-" : milliseconds(value(*found));
}

int64_t largestPeak(const TraceSummary& summary) {
  int64_t peak = 0;
  for (const auto& device : summary.memoryPeaks) peak = std::max(peak, device.peakAllocatedBytes);
  return peak;
}

}  // namespace

std::string traceSummaryJson(const TraceSummary& summary, const std::string& label) {
  return summaryObject(summary, label).dump(2) + "\n";
}

Table rankSummaryTable(const analysis::RankedTraceSummary& summary) {
  Table table({"rank", "trace", "span ms", "operators", "operator ms", "NVTX ranges", "kernels",
               "GPU ms", "transfers", "transfer bytes", "peak allocated"},
              {Align::Right, Align::Left, Align::Right, Align::Right, Align::Right, Align::Right,
               Align::Right, Align::Right, Align::Right, Align::Right, Align::Right});
  for (const analysis::RankSummary& rank : summary.ranks) {
    const TraceSummary& s = rank.summary;
    int64_t ranges = 0;
    for (const auto& range : s.ranges) ranges += range.count;
    table.addRow({std::to_string(rank.rank), rank.file, milliseconds(s.endNs - s.startNs),
                  std::to_string(s.operatorCalls), milliseconds(s.operatorSelfTotalNs),
                  std::to_string(ranges), std::to_string(s.kernelCount),
                  milliseconds(s.kernelTotalNs), std::to_string(s.transferCount),
                  formatBytes(static_cast<double>(s.transferBytes)),
                  formatBytes(static_cast<double>(largestPeak(s)))});
  }
  return table;
}

std::string rankedTraceSummaryText(const analysis::RankedTraceSummary& summary,
                                   const std::string& label) {
  const TraceSummary& merged = summary.merged;
  if (summary.ranks.size() <= 1) return traceSummaryText(merged, label);
  std::ostringstream out;
  out << "trace: " << label << " (" << summary.ranks.size() << " ranks, merged)"
      << "\nsource: " << metaOr(merged, "source", "unknown")
      << "\nspan: " << milliseconds(merged.endNs - merged.startNs) << " ms"
      << "\nclock: " << metaOr(merged, "clock", "unknown") << "\n";
  section(out, "Ranks", rankSummaryTable(summary), "no ranks");
  auto sameKernel = [&](size_t row) {
    return [&, row](const analysis::KernelStat& s) { return s.name == merged.kernels[row].name; };
  };
  section(out,
          "GPU kernels (" + std::to_string(merged.kernelCount) + " launches, " +
              milliseconds(merged.kernelTotalNs) + " ms)",
          withRankColumns(kernelSummaryTable(merged), summary, "ms",
                          [&](const TraceSummary& rank, size_t row) {
                            return rankCell(rank.kernels, sameKernel(row),
                                            [](const auto& s) { return s.totalNs; });
                          }),
          "no kernels in this trace", merged.kernelNamesOmitted);
  section(out, "Memory copies", copySummaryTable(merged), "no copies in this trace");
  auto sameRange = [&](size_t row) {
    return [&, row](const analysis::RangeStat& s) {
      return s.domain == merged.ranges[row].domain && s.text == merged.ranges[row].text;
    };
  };
  section(out, "NVTX ranges",
          withRankColumns(rangeSummaryTable(merged), summary, "ms",
                          [&](const TraceSummary& rank, size_t row) {
                            return rankCell(rank.ranges, sameRange(row),
                                            [](const auto& s) { return s.totalNs; });
                          }),
          "no ranges in this trace", merged.rangesOmitted);
  auto sameOperator = [&](size_t row) {
    return
        [&, row](const analysis::OperatorStat& s) { return s.name == merged.operators[row].name; };
  };
  section(out, "Operators",
          withRankColumns(operatorSummaryTable(merged), summary, "self ms",
                          [&](const TraceSummary& rank, size_t row) {
                            return rankCell(rank.operators, sameOperator(row),
                                            [](const auto& s) { return s.selfNs; });
                          }),
          "no operators in this trace", merged.operatorsOmitted);
  section(out, "Memory peaks (the largest rank's)", memoryPeakTable(merged),
          "no memory events in this trace");
  section(out, "Events (all ranks)", eventCountTable(merged), "the trace is empty");
  return out.str();
}

std::string rankedTraceSummaryJson(const analysis::RankedTraceSummary& summary,
                                   const std::string& label) {
  if (summary.ranks.size() <= 1) return traceSummaryJson(summary.merged, label);
  Json root = summaryObject(summary.merged, label);
  root["ranks"] = Json::array();
  for (const analysis::RankSummary& rank : summary.ranks) {
    Json entry = {{"rank", rank.rank}, {"file", rank.file}};
    Json own = summaryObject(cutToTop(rank.summary, summary.topN), rank.file);
    for (auto& [key, value] : own.items()) {
      entry[key] = value;
    }
    root["ranks"].push_back(std::move(entry));
  }
  return root.dump(2) + "\n";
}

}  // namespace moeprof::reports
