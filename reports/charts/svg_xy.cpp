// XY charts: numeric x and y axes (linear or log), series as lines and/or points, optional
// error intervals, markers and reference lines.
#include <algorithm>
#include <cmath>
#include <limits>

#include "reports/charts/palette.h"
#include "reports/charts/svg_parts.h"

namespace moeprof::charts::svg {

namespace {

std::pair<Extent, Extent> extents(const Chart& c) {
  Extent x, y;
  for (const auto& s : c.series) {
    for (const auto& d : s.data) {
      x.add(d.x, c.x.logScale);
      y.add(d.y, c.y.logScale);
      if (d.interval) {
        y.add(d.interval->low, c.y.logScale);
        y.add(d.interval->high, c.y.logScale);
      }
    }
  }
  for (const auto& m : c.markers) {
    x.add(m.x, c.x.logScale);
    y.add(m.y, c.y.logScale);
  }
  for (const auto& r : c.referenceLines) y.add(r.y, c.y.logScale);
  return {x.orDefault(c.x.logScale), y.orDefault(c.y.logScale)};
}

std::string pointTooltip(const Chart& c, const Series& s, const Datum& d) {
  std::string text = s.name + " \u00b7 " + c.x.label + " " + valueText(d.x, c.x.unit) + ": " +
                     valueText(d.y, c.y.unit);
  if (d.interval) {
    text += " (interval " + formatValue(d.interval->low, 4) + " to " +
            formatValue(d.interval->high, 4) + ")";
  }
  if (!d.tooltip.empty()) text += "; " + d.tooltip;
  return text;
}

// A line without point marks still says what it is and its range when hovered.
std::string lineTooltip(const Chart& c, const Series& s) {
  Extent y;
  for (const auto& d : s.data) y.add(d.y, false);
  std::string text = s.name + " (" + std::to_string(s.data.size()) + " points)";
  if (!y.empty()) {
    text += ": " + valueText(y.low, c.y.unit) + " to " + valueText(y.high, c.y.unit);
  }
  return text;
}

void drawSeries(Writer& w, const Chart& c, const Scale& x, const Scale& y) {
  for (size_t si = 0; si < c.series.size(); ++si) {
    const Series& s = c.series[si];
    const std::string colour = seriesColour(c, si);
    const bool line = s.style != SeriesStyle::Points;
    const bool points = s.style == SeriesStyle::Points || s.style == SeriesStyle::LinePoints ||
                        s.style == SeriesStyle::Bars;
    if (line) {
      std::vector<std::pair<double, double>> polyline;
      for (const auto& d : s.data) {
        if (std::isfinite(d.x) && std::isfinite(d.y)) polyline.emplace_back(x(d.x), y(d.y));
      }
      w.polyline(polyline, colour, s.dashed, points ? "" : lineTooltip(c, s));
    }
    for (const auto& d : s.data) {
      if (!std::isfinite(d.x) || !std::isfinite(d.y)) continue;
      if (d.interval) {
        const double px = x(d.x);
        w.line(px, y(d.interval->high), px, y(d.interval->low), colour, 1.5);
      }
      if (points) w.circle(x(d.x), y(d.y), 3.5, colour, pointTooltip(c, s, d));
    }
  }
  for (const auto& m : c.markers) {
    std::string tip = m.label + ": " + valueText(m.y, c.y.unit) + " at " + c.x.label + " " +
                      valueText(m.x, c.x.unit);
    if (!m.tooltip.empty()) tip += "; " + m.tooltip;
    w.diamond(x(m.x), y(m.y), 7, kMarkerColour, tip);
  }
}

}  // namespace

std::string renderXy(const Chart& c, const SvgOptions& o) {
  const auto [xe, ye] = extents(c);
  const Ticks xt = axisTicks(c.x, xe.low, xe.high, false);
  const Ticks yt = axisTicks(c.y, ye.low, ye.high, !c.y.logScale && ye.low >= 0);
  const auto legend = legendEntries(c);
  const double legendW = legendWidth(legend);

  Frame f;
  f.plotLeft = 40 + tickLabelWidth(yt);
  f.plotTop = headerHeight(c, o.width) + 12;
  f.plotHeight = o.plotHeight;
  f.plotWidth = std::max(120.0, o.width - f.plotLeft - (legendW > 0 ? legendW + 24 : 16));
  f.width = f.right() + (legendW > 0 ? legendW + 24 : 16);
  f.height = std::max(f.bottom() + 46, f.plotTop + legendHeight(legend) + 8);

  Writer w;
  w.open(f.width, f.height, o, c.title);
  drawHeader(w, c, o.width);
  const Scale x(xt.low, xt.high, f.plotLeft, f.right(), c.x.logScale);
  const Scale y(yt.low, yt.high, f.bottom(), f.plotTop, c.y.logScale);
  drawYAxis(w, f, y, yt, c.y);
  drawXAxis(w, f, x, xt, c.x);
  drawReferenceLines(w, f, c, y);
  drawSeries(w, c, x, y);
  drawLegend(w, legend, f.right() + 16, f.plotTop);
  w.close();
  return w.take();
}

}  // namespace moeprof::charts::svg
