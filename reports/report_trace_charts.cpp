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

namespace {

// One heatmap of a CacheStep quantity, layers x batches, binned to the report's limits.
Chart cacheHeatmap(const analysis::CacheTimeline& timeline, const std::string& id,
                   const std::string& title, const std::string& valueLabel, const std::string& unit,
                   double (*value)(const analysis::CacheStep&)) {
  Chart c;
  c.kind = charts::ChartKind::Heatmap;
  c.id = id;
  c.title = title;
  c.x.label = "measured batch";
  c.y.label = "MoE layer";
  for (uint32_t b = 0; b < timeline.batches; ++b) c.x.categories.push_back(std::to_string(b));
  for (uint32_t l = 0; l < timeline.layers; ++l) c.y.categories.push_back(std::to_string(l));
  c.heatmap.rows = timeline.layers;
  c.heatmap.columns = timeline.batches;
  c.heatmap.values.assign(c.heatmap.rows * c.heatmap.columns, 0.0);
  c.heatmap.valueLabel = valueLabel;
  c.heatmap.valueUnit = unit;
  c.heatmap.idleLabel = "none";
  for (const auto& step : timeline.steps) {
    c.heatmap.values[step.moeLayer * c.heatmap.columns + step.batch] = value(step);
  }
  charts::binHeatmapColumns(c, kMaxHeatmapColumns);
  charts::binHeatmapRows(c, kMaxHeatmapRows);
  return c;
}

}  // namespace

std::vector<Chart> cacheTimelineCharts(const analysis::CacheTimeline& timeline,
                                       const std::string& name) {
  if (timeline.empty()) return {};
  analysis::CacheStep total;
  for (const auto& step : timeline.steps) {
    total.hits += step.hits;
    total.misses += step.misses;
    total.bytesMoved += step.bytesMoved;
    total.stallNs += step.stallNs;
  }
  const std::string totals = name + ": " + std::to_string(total.hits) + " hits, " +
                             std::to_string(total.misses) + " misses (miss rate " +
                             formatNumber(total.missRate(), 3) + "), " +
                             formatBytes(double(total.bytesMoved)) + " moved, " +
                             formatNumber(double(total.stallNs) * 1e-6, 4) + " ms stalled";
  std::vector<Chart> found = {
      cacheHeatmap(timeline, "cache-misses-" + name, "Expert cache misses per layer and batch",
                   "misses", "", [](const analysis::CacheStep& s) { return double(s.misses); }),
      cacheHeatmap(timeline, "cache-hits-" + name, "Expert cache hits per layer and batch", "hits",
                   "", [](const analysis::CacheStep& s) { return double(s.hits); }),
      cacheHeatmap(timeline, "cache-stall-" + name,
                   "Compute stalled on expert loads per layer and batch", "stall", "ms",
                   [](const analysis::CacheStep& s) { return double(s.stallNs) * 1e-6; }),
      cacheHeatmap(timeline, "cache-bytes-" + name, "Expert bytes moved per layer and batch",
                   "moved", "MiB",
                   [](const analysis::CacheStep& s) { return double(s.bytesMoved) / (1 << 20); })};
  found[0].caption = totals + " in the traced batches";
  found[1].caption = name + ": lookups that found the expert resident (or its load under way)";
  found[2].caption = name +
                     ": time compute waited for an expert's weights (the moe.expert_stall NVTX "
                     "range), counted to the layer that looked the expert up";
  found[3].caption = name +
                     ": bytes of the cache fills (misses and prefetches), counted to the batch "
                     "whose miss or prefetch started them";
  return found;
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
