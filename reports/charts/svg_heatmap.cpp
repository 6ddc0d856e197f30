// Heatmaps: one cell per (row, column) coloured on a sequential scale, idle (zero) cells in a
// neutral grey outside the scale, a colour bar with the value's unit. Cells never shrink below
// kMinCell px: a matrix too wide for the page makes the SVG wider (report builders bin columns
// first, binHeatmapColumns, so E = 512 stays readable without scrolling).
#include <algorithm>
#include <cmath>

#include "reports/charts/palette.h"
#include "reports/charts/svg_parts.h"

namespace moeprof::charts::svg {

namespace {

constexpr double kMinCell = 6;
constexpr double kMaxCellWidth = 44;
constexpr double kMaxCellHeight = 22;
constexpr double kMaxColourBarHeight = 180;
constexpr double kMinColourBarHeight = 90;
constexpr int kColourBarSteps = 32;

std::string category(const Axis& axis, size_t i) {
  return i < axis.categories.size() ? axis.categories[i] : std::to_string(i);
}

// "expert (bins of 4, summed)" -> "expert": the name a tooltip puts before a category.
std::string axisName(const Axis& axis) {
  return axis.label.substr(0, axis.label.find(" ("));
}

double maxValue(const Heatmap& h) {
  if (h.maxValue && *h.maxValue > 0) return *h.maxValue;
  double top = 0;
  for (double v : h.values) {
    if (std::isfinite(v)) top = std::max(top, v);
  }
  return top > 0 ? top : 1;
}

// Position on the colour scale, 0..1, and back.
double scalePosition(const Heatmap& h, double value, double top) {
  return h.logScale ? std::log1p(std::max(0.0, value)) / std::log1p(top) : value / top;
}
double valueAt(const Heatmap& h, double position, double top) {
  return h.logScale ? std::expm1(position * std::log1p(top)) : position * top;
}

std::string cellColour(const Heatmap& h, double value, double top) {
  if (h.zeroIsIdle && value == 0) return kIdleColour;
  return scaleColour(h.scale, scalePosition(h, value, top));
}

std::string valueTitle(const Heatmap& h) {
  std::string title = h.valueUnit.empty() ? h.valueLabel : h.valueLabel + " (" + h.valueUnit + ")";
  return h.logScale ? title + ", log scale" : title;
}

void drawCells(Writer& w, const Chart& c, const Frame& f, double cellW, double cellH) {
  const Heatmap& h = c.heatmap;
  const double top = maxValue(h);
  const std::string rowName = axisName(c.y);
  const std::string columnName = axisName(c.x);
  const std::string separator = cellW >= 12 && cellH >= 12 ? " stroke=\"#ffffff\"" : "";
  const std::string unit = h.valueUnit.empty() ? h.valueLabel : h.valueUnit;
  for (size_t r = 0; r < h.rows; ++r) {
    for (size_t col = 0; col < h.columns; ++col) {
      const double v = h.at(r, col);
      std::string tip = rowName + " " + category(c.y, r) + " \u00b7 " + columnName + " " +
                        category(c.x, col) + ": " + valueText(v, unit);
      if (h.zeroIsIdle && v == 0) tip += " (" + h.idleLabel + ")";
      w.rect(f.plotLeft + cellW * static_cast<double>(col),
             f.plotTop + cellH * static_cast<double>(r), cellW, cellH, cellColour(h, v, top), tip,
             separator);
    }
  }
}

void drawRowLabels(Writer& w, const Chart& c, const Frame& f, double cellH) {
  const size_t step = std::max<size_t>(1, static_cast<size_t>(std::ceil(13.0 / cellH)));
  for (size_t r = 0; r < c.heatmap.rows; r += step) {
    w.text(f.plotLeft - 6, f.plotTop + cellH * (static_cast<double>(r) + 0.5) + 4,
           shorten(category(c.y, r)), "end", 11, kAxisColour);
  }
  drawYAxisTitle(w, f, c.y.title());
}

// The colour bar right of the plot; returns its bottom.
double colourBarHeight(const Frame& f) {
  return std::clamp(f.plotHeight, kMinColourBarHeight, kMaxColourBarHeight);
}

double drawColourBar(Writer& w, const Chart& c, double x, double y, double height) {
  const Heatmap& h = c.heatmap;
  const double top = maxValue(h);
  w.text(x, y, shorten(valueTitle(h)), "start", 11, kAxisColour);
  const double barTop = y + 8;
  const double step = height / kColourBarSteps;
  for (int i = 0; i < kColourBarSteps; ++i) {
    // Top of the bar is the largest value.
    const double t = 1.0 - (i + 0.5) / kColourBarSteps;
    w.rect(x, barTop + step * i, 14, step + 0.3, scaleColour(h.scale, t));
  }
  for (double fraction : {1.0, 0.5, 0.0}) {
    const double ty = barTop + height * (1.0 - fraction);
    w.line(x + 14, ty, x + 18, ty, kAxisColour);
    std::string label = formatValue(valueAt(h, fraction, top), 3, true);
    if (fraction == 0.0 && h.zeroIsIdle) label = "> 0";
    w.text(x + 21, ty + 4, label, "start", 11, kAxisColour);
  }
  double bottom = barTop + height;
  if (h.zeroIsIdle) {
    w.rect(x, bottom + 12, 14, 14, kIdleColour, "", " stroke=\"#999999\"");
    w.text(x + 20, bottom + 23, shorten(h.idleLabel), "start", 11, kAxisColour);
    bottom += 30;
  }
  return bottom;
}

double rowLabelWidth(const Chart& c) {
  double widest = 0;
  for (size_t r = 0; r < c.heatmap.rows; ++r) {
    widest = std::max(widest, textWidth(shorten(category(c.y, r)), 11));
  }
  return widest;
}

}  // namespace

std::string renderHeatmap(const Chart& c, const SvgOptions& o) {
  const Heatmap& h = c.heatmap;
  const size_t rows = std::max<size_t>(1, h.rows);
  const size_t columns = std::max<size_t>(1, h.columns);
  const double barW =
      std::max(textWidth(shorten(valueTitle(h)), 11), textWidth(shorten(h.idleLabel)) + 24) + 12;

  Frame f;
  f.plotLeft = 40 + rowLabelWidth(c);
  f.plotTop = headerHeight(c, o.width) + 18;
  const double available = o.width - f.plotLeft - barW - 40;
  const double cellW =
      std::clamp(std::floor(available / static_cast<double>(columns)), kMinCell, kMaxCellWidth);
  const double cellH =
      std::clamp(std::floor(360.0 / static_cast<double>(rows)), kMinCell, kMaxCellHeight);
  f.plotWidth = cellW * static_cast<double>(columns);
  f.plotHeight = cellH * static_cast<double>(rows);
  std::vector<std::string> columnLabels;
  for (size_t col = 0; col < h.columns; ++col) columnLabels.push_back(category(c.x, col));
  const CategoryLabels labels = planCategoryLabels(columnLabels, cellW);
  f.width = std::max<double>(f.right() + barW + 40, o.width);
  const double barBottom = f.plotTop + 8 + colourBarHeight(f) + (h.zeroIsIdle ? 30 : 0);
  f.height = std::max(f.bottom() + labels.height + 26, barBottom + 10);

  Writer w;
  w.open(f.width, f.height, o, c.title);
  drawHeader(w, c, o.width);
  drawCells(w, c, f, cellW, cellH);
  drawRowLabels(w, c, f, cellH);
  std::vector<double> centres;
  for (size_t col = 0; col < h.columns; ++col) {
    centres.push_back(f.plotLeft + cellW * (static_cast<double>(col) + 0.5));
  }
  drawCategoryLabels(w, f, labels, centres, c.x);
  drawColourBar(w, c, f.right() + 24, f.plotTop, colourBarHeight(f));
  w.close();
  return w.take();
}

}  // namespace moeprof::charts::svg
