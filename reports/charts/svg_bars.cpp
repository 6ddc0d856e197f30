// Bar charts: categories along x, one bar per series in each category (grouped) or the series
// stacked into one bar, optional error intervals, markers and reference lines.
#include <algorithm>
#include <cmath>
#include <limits>

#include "reports/charts/palette.h"
#include "reports/charts/svg_parts.h"

namespace moeprof::charts::svg {

namespace {

constexpr double kMinBarWidth = 8;      // px; below this the chart grows wider
constexpr double kMaxBarWidth = 64;     // px; a chart of few bars keeps them slim
constexpr double kGroupFill = 0.8;      // share of a category's band its bars take
constexpr size_t kMaxValueLabels = 16;  // bars get their value printed above them up to this

struct Range {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    low = std::min(low, v);
    high = std::max(high, v);
  }
};

Range dataRange(const Chart& c, size_t categories) {
  Range r;
  if (c.barLayout == BarLayout::Stacked) {
    std::vector<double> totals(categories, 0.0);
    for (const auto& s : c.series) {
      for (const auto& d : s.data) {
        const auto i = static_cast<size_t>(d.x);
        if (i < categories && d.y > 0) totals[i] += d.y;
      }
    }
    for (double t : totals) r.add(t);
  }
  for (const auto& s : c.series) {
    for (const auto& d : s.data) {
      if (c.barLayout == BarLayout::Grouped || s.style != SeriesStyle::Bars) r.add(d.y);
      if (d.interval) {
        r.add(d.interval->low);
        r.add(d.interval->high);
      }
    }
  }
  for (const auto& m : c.markers) r.add(m.y);
  for (const auto& l : c.referenceLines) r.add(l.y);
  if (!(r.low <= r.high)) r = {0, 1};
  if (c.y.logScale) {  // the smallest positive value sets the bottom of a log axis
    Range positive;
    for (const auto& s : c.series) {
      for (const auto& d : s.data) {
        if (d.y > 0) positive.add(d.y);
      }
    }
    for (const auto& m : c.markers) {
      if (m.y > 0) positive.add(m.y);
    }
    if (positive.low <= positive.high) r.low = positive.low;
  }
  return r;
}

std::string barTooltip(const Chart& c, const Series& s, const Datum& d) {
  const size_t i = static_cast<size_t>(d.x);
  std::string text = s.name;
  if (i < c.x.categories.size()) text += (text.empty() ? "" : " \u00b7 ") + c.x.categories[i];
  text += ": " + valueText(d.y, c.y.unit);
  if (d.interval) {
    text += " (interval " + formatValue(d.interval->low, 4) + " to " +
            formatValue(d.interval->high, 4) + ")";
  }
  if (!d.tooltip.empty()) text += "; " + d.tooltip;
  return text;
}

void drawInterval(Writer& w, double x, double halfWidth, const Interval& interval, const Scale& y) {
  const double top = y(interval.high);
  const double bottom = y(interval.low);
  w.line(x, top, x, bottom, "#222222", 1.5);
  w.line(x - halfWidth, top, x + halfWidth, top, "#222222", 1.5);
  w.line(x - halfWidth, bottom, x + halfWidth, bottom, "#222222", 1.5);
}

struct BarGeometry {
  double band = 0;
  size_t groups = 1;  // bars side by side per category
  double barWidth = 0;
  double left(const Frame& f, size_t category, size_t slot) const {
    const double groupLeft = f.plotLeft + band * (static_cast<double>(category) + 0.5) -
                             barWidth * static_cast<double>(groups) / 2;
    return groupLeft + barWidth * static_cast<double>(slot);
  }
};

void drawBars(Writer& w, const Frame& f, const Chart& c, const BarGeometry& g, const Scale& y) {
  const double base = c.y.logScale ? f.bottom() : std::clamp(y(0), f.plotTop, f.bottom());
  const size_t n = c.x.categories.size();
  std::vector<double> stackTop(n, 0.0);
  size_t slot = 0;
  size_t bars = 0;
  for (const auto& s : c.series) bars += s.style == SeriesStyle::Bars ? s.data.size() : 0;
  const bool labels = c.barLayout == BarLayout::Grouped && bars <= kMaxValueLabels;
  for (size_t si = 0; si < c.series.size(); ++si) {
    const Series& s = c.series[si];
    if (s.style != SeriesStyle::Bars) continue;
    const std::string colour = seriesColour(c, si);
    for (const auto& d : s.data) {
      const auto i = static_cast<size_t>(d.x);
      if (i >= n || !std::isfinite(d.y)) continue;
      double from = base;
      double to = y(d.y);
      if (c.barLayout == BarLayout::Stacked) {
        from = stackTop[i] > 0 ? y(stackTop[i]) : base;
        stackTop[i] += std::max(0.0, d.y);
        to = y(stackTop[i]);
      }
      const double x = g.left(f, i, c.barLayout == BarLayout::Grouped ? slot : 0);
      const double top = std::min(from, to);
      w.rect(x, top, g.barWidth, std::max(std::abs(to - from), 0.5), colour, barTooltip(c, s, d));
      const double centre = x + g.barWidth / 2;
      double labelY = top;
      if (d.interval) {
        const Interval shifted = c.barLayout == BarLayout::Stacked
                                     ? Interval{d.interval->low + stackTop[i] - d.y,
                                                d.interval->high + stackTop[i] - d.y}
                                     : *d.interval;
        drawInterval(w, centre, std::max(2.0, g.barWidth / 4), shifted, y);
        labelY = std::min(labelY, y(shifted.high));
      }
      if (labels) {
        const bool ratio = c.y.unit == "x" || c.y.unit == "%";
        w.text(centre, labelY - 4, formatValue(d.y, 3, !ratio) + (ratio ? c.y.unit : ""), "middle",
               10, kAxisColour);
      }
    }
    ++slot;
  }
}

void drawPointsAndMarkers(Writer& w, const Frame& f, const Chart& c, const BarGeometry& g,
                          const Scale& y) {
  const size_t n = c.x.categories.size();
  for (size_t si = 0; si < c.series.size(); ++si) {
    const Series& s = c.series[si];
    if (s.style == SeriesStyle::Bars) continue;
    for (const auto& d : s.data) {
      const auto i = static_cast<size_t>(d.x);
      if (i >= n) continue;
      w.circle(f.plotLeft + g.band * (static_cast<double>(i) + 0.5), y(d.y), 4, seriesColour(c, si),
               barTooltip(c, s, d));
    }
  }
  // Markers sit on the bar of their series, or on the category's centre.
  std::vector<size_t> slotOfSeries(c.series.size(), 0);
  size_t slot = 0;
  for (size_t si = 0; si < c.series.size(); ++si) {
    if (c.series[si].style == SeriesStyle::Bars) slotOfSeries[si] = slot++;
  }
  for (const auto& m : c.markers) {
    const auto i = static_cast<size_t>(m.x);
    if (i >= n) continue;
    double x = f.plotLeft + g.band * (static_cast<double>(i) + 0.5);
    if (m.series >= 0 && static_cast<size_t>(m.series) < c.series.size() &&
        c.barLayout == BarLayout::Grouped) {
      x = g.left(f, i, slotOfSeries[static_cast<size_t>(m.series)]) + g.barWidth / 2;
    }
    std::string tip = m.label + " \u00b7 " + c.x.categories[i] + ": " + valueText(m.y, c.y.unit);
    if (!m.tooltip.empty()) tip += "; " + m.tooltip;
    w.diamond(x, y(m.y), 7, kMarkerColour, tip);
  }
}

}  // namespace

std::string renderBars(const Chart& c, const SvgOptions& o) {
  const size_t n = std::max<size_t>(1, c.x.categories.size());
  const Range range = dataRange(c, n);
  const Ticks ticks = axisTicks(c.y, range.low, range.high, true);
  const auto legend = legendEntries(c);
  const double legendW = legendWidth(legend);

  BarGeometry g;
  if (c.barLayout == BarLayout::Grouped) {
    g.groups = std::max<size_t>(
        1, static_cast<size_t>(std::count_if(c.series.begin(), c.series.end(), [](const Series& s) {
          return s.style == SeriesStyle::Bars;
        })));
  }
  Frame f;
  f.plotLeft = 40 + tickLabelWidth(ticks);
  f.plotTop = headerHeight(c, o.width) + 12;
  f.plotHeight = o.plotHeight;
  const double available = o.width - f.plotLeft - (legendW > 0 ? legendW + 24 : 16);
  const double needed = static_cast<double>(n * g.groups) * kMinBarWidth / kGroupFill;
  f.plotWidth = std::max({available, needed, 120.0});
  g.band = f.plotWidth / static_cast<double>(n);
  g.barWidth = std::min(kMaxBarWidth, g.band * kGroupFill / static_cast<double>(g.groups));
  const CategoryLabels labels = planCategoryLabels(c.x.categories, g.band);
  f.width = f.right() + (legendW > 0 ? legendW + 24 : 16);
  f.height = std::max(f.bottom() + labels.height + 26, f.plotTop + legendHeight(legend) + 8);

  Writer w;
  w.open(f.width, f.height, o, c.title);
  drawHeader(w, c, o.width);
  const Scale y(ticks.low, ticks.high, f.bottom(), f.plotTop, c.y.logScale);
  drawYAxis(w, f, y, ticks, c.y);
  drawBars(w, f, c, g, y);
  drawReferenceLines(w, f, c, y);
  drawPointsAndMarkers(w, f, c, g, y);
  std::vector<double> centres;
  for (size_t i = 0; i < c.x.categories.size(); ++i) {
    centres.push_back(f.plotLeft + g.band * (static_cast<double>(i) + 0.5));
  }
  drawCategoryLabels(w, f, labels, centres, c.x);
  drawLegend(w, legend, f.right() + 16, f.plotTop);
  w.close();
  return w.take();
}

}  // namespace moeprof::charts::svg
