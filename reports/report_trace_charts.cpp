// Charts of traces: the memory timeline of each device (and rank), and the events a trace holds.
#include <algorithm>
#include <cstdint>

#include "reports/report_charts.h"
#include "reports/table.h"

namespace moeprof::reports {

using charts::Chart;
using charts::Series;
using charts::SeriesStyle;

namespace {

std::string deviceName(const analysis::DeviceMemoryTimeline& t) {
  return t.deviceType == 1 ? "CUDA " + std::to_string(t.deviceIndex) : std::string("CPU");
}

}  // namespace

std::optional<Chart> memoryTimelineChart(
    const std::vector<std::pair<std::string, std::vector<analysis::DeviceMemoryTimeline>>>& ranks,
    const std::string& title) {
  // Ranks and devices share the machine's clock: one time axis from the earliest allocation.
  int64_t largest = 0, spanNs = 0, firstNs = INT64_MAX;
  for (const auto& [rank, timelines] : ranks) {
    for (const auto& t : timelines) firstNs = std::min(firstNs, t.startNs);
  }
  for (const auto& [rank, timelines] : ranks) {
    for (const auto& t : timelines) {
      largest = std::max(largest, t.peakAllocatedBytes);
      if (!t.samples.empty()) {
        spanNs = std::max(spanNs, t.startNs - firstNs + t.samples.back().timeNs);
      }
    }
  }
  if (largest == 0 && spanNs == 0) return std::nullopt;
  const bool mib = largest >= (int64_t{1} << 20);
  const double byteScale = mib ? double(1 << 20) : 1024.0;
  const bool seconds = spanNs >= 10'000'000'000;
  const double timeScale = seconds ? 1e9 : 1e6;
  Chart c;
  c.kind = charts::ChartKind::Xy;
  c.id = "memory-timeline";
  c.title = title;
  c.x = {"time since the first allocation", seconds ? "s" : "ms", false, {}, {}, {}};
  c.y = {"allocated", mib ? "MiB" : "KiB", false, {}, {}, {}};
  std::string peaks;
  for (const auto& [rank, timelines] : ranks) {
    for (const auto& t : timelines) {
      const std::string name = (rank.empty() ? "" : rank + " ") + deviceName(t);
      Series s{name, SeriesStyle::Line, {}};
      for (const auto& sample : t.samples) {
        s.data.push_back({double(t.startNs - firstNs + sample.timeNs) / timeScale,
                          double(sample.allocatedBytes) / byteScale,
                          {},
                          {}});
      }
      c.series.push_back(std::move(s));
      peaks += (peaks.empty() ? "" : "; ") + name + " peak " +
               formatBytes(double(t.peakAllocatedBytes)) + " at " +
               formatNumber(double(t.startNs - firstNs + t.peakTimeNs) / timeScale, 3) +
               (seconds ? " s" : " ms") + " (" + std::to_string(t.events) + " events)";
    }
  }
  c.caption =
      "Memory held after each allocation and free, thinned to the lowest and highest "
      "sample per time bucket so peaks survive: " +
      peaks;
  return c;
}

Chart eventCountChart(const analysis::TraceSummary& summary, const std::string& title) {
  Chart c;
  c.kind = charts::ChartKind::Bars;
  c.id = "trace-events";
  c.title = title;
  c.caption = "Events of each kind the trace holds";
  c.x.label = "event kind";
  c.y = {"events", "", true, {}, {}, {}};
  Series s{"events", SeriesStyle::Bars, {}};
  for (const auto& e : summary.eventCounts) {
    if (e.events <= 0) continue;
    s.data.push_back({double(c.x.categories.size()), double(e.events), {}, {}});
    c.x.categories.push_back(e.kind);
  }
  c.series = {s};
  return c;
}

}  // namespace moeprof::reports
