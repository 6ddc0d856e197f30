#pragma once
// Draws a chart description (reports/charts/chart.h) with QPainter, laid out as the SVG
// renderer lays it out: title and caption, axes with units and ticks (reports/charts/scale.h),
// bars with intervals and paper markers, lines and points, heatmap cells with idle cells in the
// neutral colour and a colour bar, and a legend. It returns every mark's rectangle and hover
// text, so widgets show exact values on hover and tests count what was drawn.
#include <QPainter>
#include <QRectF>
#include <QString>
#include <vector>

#include "reports/charts/chart.h"

namespace moeprof::gui {

struct ChartMark {
  QRectF rect{};
  QString tooltip{};
  int row = -1;     // heatmap cell row, or series index of a bar or point
  int column = -1;  // heatmap cell column, or category / point index
};

struct ChartPaintResult {
  std::vector<ChartMark> marks{};
  QRectF plot{};
};

// The height a chart wants at `width` px (heatmaps: cells at least minCellPx high).
int preferredChartHeight(const charts::Chart& chart, int width);
// The width a heatmap needs for cells of `cellWidthPx` (zoom); other charts: `width`.
int chartWidthForCells(const charts::Chart& chart, double cellWidthPx, int width);

ChartPaintResult paintChart(QPainter& painter, const charts::Chart& chart, const QRectF& area);

}  // namespace moeprof::gui
