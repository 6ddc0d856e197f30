#include "reports/charts/chart.h"

#include <algorithm>

namespace moeprof::charts {

namespace {

// Categories of `count` items merged `width` at a time: "first-last" (or the one name).
std::vector<std::string> binnedCategories(const std::vector<std::string>& categories, size_t count,
                                          size_t width) {
  std::vector<std::string> out;
  for (size_t first = 0; first < count; first += width) {
    size_t last = std::min(count, first + width) - 1;
    auto name = [&](size_t i) { return i < categories.size() ? categories[i] : std::to_string(i); };
    out.push_back(first == last ? name(first) : name(first) + "-" + name(last));
  }
  return out;
}

void noteBins(Axis& axis, size_t width) {
  axis.label += " (bins of " + std::to_string(width) + ", summed)";
}

size_t binWidth(size_t count, size_t maxCount) {
  maxCount = std::max<size_t>(1, maxCount);
  return (count + maxCount - 1) / maxCount;
}

}  // namespace

void binHeatmapColumns(Chart& chart, size_t maxColumns) {
  Heatmap& h = chart.heatmap;
  if (h.columns <= maxColumns) return;
  const size_t width = binWidth(h.columns, maxColumns);
  const size_t binned = (h.columns + width - 1) / width;
  std::vector<double> values(h.rows * binned, 0.0);
  for (size_t r = 0; r < h.rows; ++r) {
    for (size_t c = 0; c < h.columns; ++c) values[r * binned + c / width] += h.at(r, c);
  }
  chart.x.categories = binnedCategories(chart.x.categories, h.columns, width);
  noteBins(chart.x, width);
  h.values = std::move(values);
  h.columns = binned;
  h.maxValue.reset();  // a bin holds more than one cell did
}

void binHeatmapRows(Chart& chart, size_t maxRows) {
  Heatmap& h = chart.heatmap;
  if (h.rows <= maxRows) return;
  const size_t width = binWidth(h.rows, maxRows);
  const size_t binned = (h.rows + width - 1) / width;
  std::vector<double> values(binned * h.columns, 0.0);
  for (size_t r = 0; r < h.rows; ++r) {
    for (size_t c = 0; c < h.columns; ++c) values[(r / width) * h.columns + c] += h.at(r, c);
  }
  chart.y.categories = binnedCategories(chart.y.categories, h.rows, width);
  noteBins(chart.y, width);
  h.values = std::move(values);
  h.rows = binned;
  h.maxValue.reset();
}

size_t markCount(const Chart& chart) {
  size_t marks = chart.markers.size();
  if (chart.kind == ChartKind::Heatmap) return marks + chart.heatmap.rows * chart.heatmap.columns;
  for (const auto& s : chart.series) marks += s.data.size();
  return marks;
}

}  // namespace moeprof::charts
