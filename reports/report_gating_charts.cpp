// Charts of the gating study: dynamic over static speedups beside the paper's, where the time
// goes in each phase, and peak memory per configuration.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "reports/paper_figures.h"
#include "reports/report_charts.h"
#include "reports/table.h"

namespace moeprof::reports {

using analysis::PhasePoint;
using charts::Chart;
using charts::Series;
using charts::SeriesStyle;

namespace {

const std::vector<std::string> kPhases = {"gate",    "dispatch",  "experts",
                                          "combine", "attention", "other"};

std::string scopeLabel(const PhasePoint& p) {
  return p.preset + " " + p.phase + " b" + std::to_string(p.batch);
}

// A log axis when values span more than `spread` (and are all positive).
bool wideSpread(const std::vector<double>& values, double spread) {
  double low = INFINITY, high = 0;
  for (double v : values) {
    if (v <= 0) return false;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  return !values.empty() && high / low > spread;
}

std::string paperCaption() {
  return "Diamonds: the paper's value (" + paperShortName("huang2023") + ", " + kPaperFiguresFile +
         "); it measured V100 GPUs at full model size, these runs the presets named.";
}

}  // namespace

std::string pointLabel(const PhasePoint& p) {
  return scopeLabel(p) + " " + p.gating;
}

std::optional<Chart> speedupChart(const std::vector<PhasePoint>& points) {
  const auto gains = analysis::gatingGains(points);
  if (gains.empty()) return std::nullopt;
  Chart c;
  c.kind = charts::ChartKind::Bars;
  c.id = "speedup";
  c.title = "Dynamic over static gating: throughput";
  c.caption = paperCaption();
  c.x.label = "preset, phase, batch";
  c.y = {"throughput, dynamic / static", "x", false, {}, {}, {}};
  Series measured{"measured", SeriesStyle::Bars, {}};
  std::vector<double> values;
  for (size_t i = 0; i < gains.size(); ++i) {
    const auto& g = gains[i];
    c.x.categories.push_back(scopeLabel(g.staticRun));
    charts::Datum d{double(i), g.throughputGain, std::nullopt, {}};
    d.tooltip = "static " + std::to_string(std::lround(g.staticRun.tokensPerS)) +
                " tokens/s, dynamic " + std::to_string(std::lround(g.dynamicRun.tokensPerS)) +
                " tokens/s";
    if (const auto ci = analysis::gainInterval(g)) {
      d.interval = charts::Interval{ci->low, ci->high};
      d.tooltip += "; 95% CI of the median-latency ratio " + formatNumber(ci->low, 3) + " to " +
                   formatNumber(ci->high, 3) + " (bootstrap over " +
                   std::to_string(g.staticRun.latencySamplesMs.size()) + " and " +
                   std::to_string(g.dynamicRun.latencySamplesMs.size()) + " units)";
      values.push_back(ci->high);
    }
    measured.data.push_back(d);
    values.push_back(g.throughputGain);
    const auto* paper = findPaperFigure("dynamic_gain", g.staticRun.workload, g.staticRun.phase);
    if (paper && paper->value) {
      c.markers.push_back({double(i), -1, *paper->value, "paper", paper->measured});
      values.push_back(*paper->value);
    }
  }
  const bool intervals = std::any_of(measured.data.begin(), measured.data.end(),
                                     [](const charts::Datum& d) { return d.interval.has_value(); });
  if (intervals) {
    c.caption += " Error bars: 95% bootstrap interval of the ratio of median unit latencies.";
  }
  c.series = {measured};
  c.referenceLines = {{1.0, "no change"}};
  c.y.logScale = wideSpread(values, 30);
  return c;
}

std::vector<Chart> phaseBreakdownCharts(const std::vector<PhasePoint>& points) {
  std::vector<std::string> order;  // workload phases in the order they first appear
  for (const auto& p : points) {
    const std::string key = p.workload + " " + p.phase;
    if (std::find(order.begin(), order.end(), key) == order.end()) order.push_back(key);
  }
  std::vector<Chart> out;
  for (const auto& key : order) {
    Chart c;
    c.kind = charts::ChartKind::Bars;
    c.barLayout = charts::BarLayout::Stacked;
    c.id = "phases-" + key;
    c.title = "Where the time goes: " + key;
    c.caption =
        "Mean time per unit (batch or decoding step) in each phase of the MoE layers "
        "and the rest of the model";
    c.x.label = "preset, batch, gating";
    c.y = {"time per unit", "ms", false, {}, {}, {}};
    std::vector<const PhasePoint*> selected;
    for (const auto& p : points) {
      if (p.workload + " " + p.phase == key) selected.push_back(&p);
    }
    for (const auto& p : selected) {
      c.x.categories.push_back(p->preset + " b" + std::to_string(p->batch) + " " + p->gating);
    }
    for (const auto& phase : kPhases) {
      Series s{phase, SeriesStyle::Bars, {}};
      for (size_t i = 0; i < selected.size(); ++i) {
        auto it = selected[i]->phaseMs.find(phase);
        if (it != selected[i]->phaseMs.end()) s.data.push_back({double(i), it->second, {}, {}});
      }
      c.series.push_back(std::move(s));
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::optional<Chart> peakMemoryChart(const std::vector<PhasePoint>& points) {
  std::vector<const PhasePoint*> runs;  // one point per run directory
  std::set<std::string> seen;
  for (const auto& p : points) {
    if (seen.insert(p.runDir).second) runs.push_back(&p);
  }
  if (runs.empty()) return std::nullopt;
  int64_t largest = 0;
  for (const auto* p : runs)
    largest = std::max({largest, p->peakWeightBytes, p->runPeakActivationBytes});
  const bool mib = largest >= (int64_t{1} << 20);
  const double scale = mib ? double(1 << 20) : 1024.0;
  Chart c;
  c.kind = charts::ChartKind::Bars;
  c.id = "peak-memory";
  c.title = "Peak memory per configuration";
  c.caption = "Peak weight memory and the run's peak activation memory (every phase)";
  c.x.label = "configuration";
  c.y = {"peak memory", mib ? "MiB" : "KiB", false, {}, {}, {}};
  Series weights{"weights", SeriesStyle::Bars, {}};
  Series activations{"activations", SeriesStyle::Bars, {}};
  std::vector<double> values;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto* p = runs[i];
    c.x.categories.push_back(p->preset + " " + p->gating + " b" + std::to_string(p->batch));
    weights.data.push_back({double(i), double(p->peakWeightBytes) / scale, {}, {}});
    activations.data.push_back({double(i), double(p->runPeakActivationBytes) / scale, {}, {}});
    values.push_back(weights.data.back().y);
    values.push_back(activations.data.back().y);
  }
  c.series = {weights, activations};
  c.y.logScale = wideSpread(values, 100);
  return c;
}

void binBarCategories(Chart& chart, size_t maxCategories) {
  const size_t n = chart.x.categories.size();
  if (n <= maxCategories || maxCategories == 0) return;
  const size_t width = (n + maxCategories - 1) / maxCategories;
  std::vector<std::string> categories;
  for (size_t first = 0; first < n; first += width) {
    const size_t last = std::min(n, first + width) - 1;
    categories.push_back(chart.x.categories[first] + "-" + chart.x.categories[last]);
  }
  for (auto& s : chart.series) {
    std::map<size_t, double> sums;
    for (const auto& d : s.data) sums[static_cast<size_t>(d.x) / width] += d.y;
    s.data.clear();
    for (const auto& [bin, sum] : sums) s.data.push_back({double(bin), sum, {}, {}});
  }
  chart.markers.clear();
  chart.x.categories = std::move(categories);
  chart.x.label += " (bins of " + std::to_string(width) + ", summed)";
}

}  // namespace moeprof::reports
