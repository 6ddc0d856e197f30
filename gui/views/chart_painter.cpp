#include "gui/views/chart_painter.h"

#include <QPainterPath>
#include <algorithm>
#include <cmath>
#include <limits>

#include "reports/charts/palette.h"
#include "reports/charts/scale.h"

namespace moeprof::gui {

namespace {

using namespace moeprof::charts;

constexpr double kTitleHeight = 22;
constexpr double kCaptionHeight = 16;
constexpr double kLeftMargin = 72;
constexpr double kBottomMargin = 64;
constexpr double kLegendWidth = 170;
constexpr double kColourBarWidth = 90;
constexpr double kHeatmapLeftMargin = 96;
constexpr double kMinCellHeight = 6;
constexpr double kMaxCellHeight = 22;

QColor colour(const std::string& hex) {
  return QColor(QString::fromStdString(hex));
}
QString text(const std::string& s) {
  return QString::fromStdString(s);
}

QColor seriesColour(const Series& s, size_t index) {
  return colour(categoricalColour(s.colour >= 0 ? s.colour : int(index)));
}

std::string category(const Axis& axis, size_t i) {
  return i < axis.categories.size() ? axis.categories[i] : std::to_string(i);
}

QString valueTip(const std::string& what, double value, const std::string& unit,
                 const std::string& extra) {
  QString tip = text(what) + QStringLiteral(": ") + text(formatValue(value));
  if (!unit.empty()) tip += QStringLiteral(" ") + text(unit);
  if (!extra.empty()) tip += QStringLiteral("\n") + text(extra);
  return tip;
}

// The ticks of an axis over the values of `extent` (the SVG renderer's rule).
Ticks ticksOf(const Extent& extent, const Axis& axis, bool withZero) {
  const Extent e = extent.orDefault(axis.logScale);
  return axisTicks(axis, e.low, e.high, withZero && !axis.logScale);
}

// Title, caption, and the plot rectangle left after margins.
QRectF drawFrame(QPainter& p, const Chart& c, const QRectF& area, double left, double right) {
  p.fillRect(area, Qt::white);
  QFont font = p.font();
  font.setBold(true);
  p.setFont(font);
  p.setPen(Qt::black);
  p.drawText(QRectF(area.left() + 8, area.top() + 2, area.width() - 16, kTitleHeight),
             Qt::AlignLeft | Qt::AlignVCenter, text(c.title));
  font.setBold(false);
  p.setFont(font);
  double top = area.top() + kTitleHeight + 4;
  if (!c.caption.empty()) {
    p.setPen(colour(kMutedTextColour));
    const QRectF box(area.left() + 8, top, area.width() - 16, 2 * kCaptionHeight);
    const QRectF used = p.boundingRect(box, Qt::AlignLeft | Qt::TextWordWrap, text(c.caption));
    p.drawText(box, Qt::AlignLeft | Qt::TextWordWrap, text(c.caption));
    top += std::min(used.height(), box.height());
  }
  return QRectF(area.left() + left, top + 8, area.width() - left - right,
                area.bottom() - kBottomMargin - top - 8);
}

void drawYAxis(QPainter& p, const Axis& axis, const Ticks& ticks, const Scale& y,
               const QRectF& plot) {
  for (double t : ticks.values) {
    const double py = y(t);
    p.setPen(colour(kGridColour));
    p.drawLine(QPointF(plot.left(), py), QPointF(plot.right(), py));
    p.setPen(colour(kAxisColour));
    p.drawText(QRectF(plot.left() - 66, py - 8, 60, 16), Qt::AlignRight | Qt::AlignVCenter,
               text(formatValue(t, 4, true)));
  }
  p.save();
  p.translate(plot.left() - 50, plot.center().y());
  p.rotate(-90);
  p.drawText(QRectF(-plot.height() / 2, -16, plot.height(), 14), Qt::AlignCenter,
             text(axis.title()));
  p.restore();
  p.drawLine(plot.bottomLeft(), plot.topLeft());
}

void drawXTitle(QPainter& p, const Axis& axis, const QRectF& plot) {
  p.setPen(colour(kAxisColour));
  p.drawText(QRectF(plot.left(), plot.bottom() + 40, plot.width(), 18), Qt::AlignCenter,
             text(axis.title()));
  p.drawLine(plot.bottomLeft(), plot.bottomRight());
}

// Category labels under bands of width `band`, thinned so that they never overlap.
void drawCategoryLabels(QPainter& p, const Axis& axis, size_t count, const QRectF& plot) {
  const double band = plot.width() / double(std::max<size_t>(1, count));
  const size_t step = std::max<size_t>(1, size_t(std::ceil(60.0 / band)));
  p.setPen(colour(kAxisColour));
  for (size_t i = 0; i < count; i += step) {
    p.drawText(QRectF(plot.left() + band * double(i) + band / 2 - 60, plot.bottom() + 4, 120, 32),
               Qt::AlignHCenter | Qt::AlignTop | Qt::TextWordWrap, text(category(axis, i)));
  }
}

// The legend's width: the longest series name, within limits (long names wrap).
double legendWidth(const QPainter& p, const Chart& c) {
  double widest = 0;
  for (const auto& s : c.series)
    widest = std::max(widest, double(p.fontMetrics().horizontalAdvance(text(s.name))));
  return std::clamp(widest + 36, kLegendWidth, 2 * kLegendWidth);
}

void drawLegend(QPainter& p, const Chart& c, const QRectF& plot) {
  double y = plot.top();
  const QRectF column(plot.right() + 12, 0, legendWidth(p, c) - 16, 16);
  for (size_t i = 0; i < c.series.size(); ++i) {
    p.fillRect(QRectF(column.left(), y + 3, 10, 10), seriesColour(c.series[i], i));
    p.setPen(Qt::black);
    const QRectF box(column.left() + 14, y, column.width() - 14, 48);
    const QRectF used =
        p.boundingRect(box, Qt::AlignLeft | Qt::TextWordWrap, text(c.series[i].name));
    p.drawText(box, Qt::AlignLeft | Qt::TextWordWrap, text(c.series[i].name));
    y += std::max(18.0, used.height() + 4);
  }
  if (!c.markers.empty()) {
    p.setBrush(colour(kMarkerColour));
    p.drawEllipse(QRectF(column.left() + 1, y + 4, 8, 8));
    p.drawText(QRectF(column.left() + 14, y, column.width() - 14, 16),
               Qt::AlignLeft | Qt::AlignVCenter, text(c.markers.front().label));
  }
}

void drawDiamond(QPainter& p, QPointF at) {
  QPainterPath path;
  path.moveTo(at + QPointF(0, -6));
  path.lineTo(at + QPointF(6, 0));
  path.lineTo(at + QPointF(0, 6));
  path.lineTo(at + QPointF(-6, 0));
  path.closeSubpath();
  p.fillPath(path, colour(kMarkerColour));
}

void drawReferenceLines(QPainter& p, const Chart& c, const Scale& y, const QRectF& plot) {
  for (const auto& line : c.referenceLines) {
    p.setPen(QPen(colour(kAxisColour), 1, Qt::DashLine));
    p.drawLine(QPointF(plot.left(), y(line.y)), QPointF(plot.right(), y(line.y)));
    p.drawText(QPointF(plot.left() + 4, y(line.y) - 3), text(line.label));
  }
}

// ---- Bars -----------------------------------------------------------------------------------

size_t categoryCount(const Chart& c) {
  size_t n = c.x.categories.size();
  for (const auto& s : c.series)
    for (const auto& d : s.data) n = std::max(n, size_t(std::max(0.0, d.x)) + 1);
  return n;
}

Ticks barTicks(const Chart& c, size_t categories) {
  Extent r;
  std::vector<double> totals(categories, 0.0);
  for (const auto& s : c.series) {
    for (const auto& d : s.data) {
      if (c.barLayout == BarLayout::Stacked && size_t(d.x) < categories) totals[size_t(d.x)] += d.y;
      r.add(d.y, c.y.logScale);
      if (d.interval) r.add(d.interval->high, c.y.logScale);
    }
  }
  for (double t : totals) r.add(t, c.y.logScale);
  for (const auto& m : c.markers) r.add(m.y, c.y.logScale);
  for (const auto& l : c.referenceLines) r.add(l.y, c.y.logScale);
  return ticksOf(r, c.y, true);
}

void drawInterval(QPainter& p, const Interval& interval, const Scale& y, double cx) {
  p.setPen(QPen(Qt::black, 1.2));
  p.drawLine(QPointF(cx, y(interval.low)), QPointF(cx, y(interval.high)));
  p.drawLine(QPointF(cx - 4, y(interval.low)), QPointF(cx + 4, y(interval.low)));
  p.drawLine(QPointF(cx - 4, y(interval.high)), QPointF(cx + 4, y(interval.high)));
}

void paintBars(QPainter& p, const Chart& c, const QRectF& area, ChartPaintResult& result) {
  const QRectF plot = drawFrame(p, c, area, kLeftMargin, legendWidth(p, c));
  const size_t n = categoryCount(c);
  const Ticks ticks = barTicks(c, n);
  const Scale y(ticks.low, ticks.high, plot.bottom(), plot.top(), c.y.logScale);
  drawYAxis(p, c.y, ticks, y, plot);
  const double band = plot.width() / double(std::max<size_t>(1, n));
  const bool stacked = c.barLayout == BarLayout::Stacked;
  const double barWidth = band * 0.8 / double(stacked ? 1 : std::max<size_t>(1, c.series.size()));
  std::vector<double> base(n, c.y.logScale ? ticks.low : 0.0);
  for (size_t s = 0; s < c.series.size(); ++s) {
    for (size_t i = 0; i < c.series[s].data.size(); ++i) {
      const Datum& d = c.series[s].data[i];
      const size_t k = size_t(std::max(0.0, d.x));
      if (k >= n) continue;
      const double left =
          plot.left() + band * double(k) + band * 0.1 + (stacked ? 0 : barWidth * double(s));
      const double bottom = stacked ? base[k] : (c.y.logScale ? ticks.low : 0.0);
      const double top = stacked ? bottom + d.y : d.y;
      const QRectF rect =
          QRectF(QPointF(left, y(top)), QPointF(left + barWidth, y(bottom))).normalized();
      p.fillRect(rect, seriesColour(c.series[s], s));
      if (stacked) base[k] = top;
      if (d.interval) drawInterval(p, *d.interval, y, rect.center().x());
      result.marks.push_back(
          {rect,
           valueTip(c.series[s].name + " \u00b7 " + category(c.x, k), d.y, c.y.unit, d.tooltip),
           int(s), int(k)});
    }
  }
  for (const auto& m : c.markers) {
    const double series = m.series < 0 || stacked ? (double(c.series.size()) - 1) / 2 : m.series;
    const double cx =
        plot.left() + band * m.x + band * 0.1 + (stacked ? band * 0.4 : barWidth * (series + 0.5));
    drawDiamond(p, QPointF(cx, y(m.y)));
    result.marks.push_back({QRectF(cx - 6, y(m.y) - 6, 12, 12),
                            valueTip(m.label, m.y, c.y.unit, m.tooltip), -1, int(m.x)});
  }
  drawReferenceLines(p, c, y, plot);
  drawCategoryLabels(p, c.x, n, plot);
  drawXTitle(p, c.x, plot);
  drawLegend(p, c, plot);
  result.plot = plot;
}

// ---- XY -------------------------------------------------------------------------------------

void paintXy(QPainter& p, const Chart& c, const QRectF& area, ChartPaintResult& result) {
  const QRectF plot = drawFrame(p, c, area, kLeftMargin, legendWidth(p, c));
  Extent rx, ry;
  for (const auto& s : c.series) {
    for (const auto& d : s.data) {
      rx.add(d.x, c.x.logScale);
      ry.add(d.y, c.y.logScale);
      if (d.interval) ry.add(d.interval->high, c.y.logScale);
    }
  }
  for (const auto& l : c.referenceLines) ry.add(l.y, c.y.logScale);
  const Ticks xt = ticksOf(rx, c.x, false), yt = ticksOf(ry, c.y, true);
  const Scale x(xt.low, xt.high, plot.left(), plot.right(), c.x.logScale);
  const Scale y(yt.low, yt.high, plot.bottom(), plot.top(), c.y.logScale);
  drawYAxis(p, c.y, yt, y, plot);
  p.setPen(colour(kAxisColour));
  for (double t : xt.values) {
    p.drawText(QRectF(x(t) - 40, plot.bottom() + 4, 80, 16), Qt::AlignCenter,
               text(formatValue(t, 4, true)));
  }
  p.setRenderHint(QPainter::Antialiasing, true);
  for (size_t s = 0; s < c.series.size(); ++s) {
    const Series& series = c.series[s];
    QPen pen(seriesColour(series, s), 2, series.dashed ? Qt::DashLine : Qt::SolidLine);
    QPolygonF line;
    for (const auto& d : series.data) line << QPointF(x(d.x), y(d.y));
    if (series.style != SeriesStyle::Points) {
      p.setPen(pen);
      p.drawPolyline(line);
    }
    for (size_t i = 0; i < series.data.size(); ++i) {
      const QRectF dot(line[int(i)] - QPointF(3, 3), QSizeF(6, 6));
      if (series.style != SeriesStyle::Line) {
        p.setBrush(pen.color());
        p.setPen(Qt::NoPen);
        p.drawEllipse(dot);
      }
      const Datum& d = series.data[i];
      result.marks.push_back(
          {dot.adjusted(-2, -2, 2, 2),
           valueTip(series.name + " at " + formatValue(d.x), d.y, c.y.unit, d.tooltip), int(s),
           int(i)});
    }
  }
  p.setRenderHint(QPainter::Antialiasing, false);
  p.setBrush(Qt::NoBrush);
  drawReferenceLines(p, c, y, plot);
  drawXTitle(p, c.x, plot);
  drawLegend(p, c, plot);
  result.plot = plot;
}

// ---- Heatmap --------------------------------------------------------------------------------

double heatmapTop(const Heatmap& h) {
  if (h.maxValue && *h.maxValue > 0) return *h.maxValue;
  double top = 0;
  for (double v : h.values)
    if (std::isfinite(v)) top = std::max(top, v);
  return top > 0 ? top : 1;
}

double scalePosition(const Heatmap& h, double value, double top) {
  return h.logScale ? std::log1p(std::max(0.0, value)) / std::log1p(top) : value / top;
}

void drawColourBar(QPainter& p, const Heatmap& h, double top, const QRectF& plot) {
  const QRectF bar(plot.right() + 16, plot.top(), 14, std::clamp(plot.height() - 50, 90.0, 180.0));
  constexpr int kSteps = 32;
  for (int i = 0; i < kSteps; ++i) {
    const double t = 1.0 - (i + 0.5) / kSteps;
    p.fillRect(QRectF(bar.left(), bar.top() + bar.height() * i / kSteps, bar.width(),
                      bar.height() / kSteps + 1),
               colour(scaleColour(h.scale, t)));
  }
  p.setPen(colour(kAxisColour));
  const double bottomValue = 0;
  p.drawText(QPointF(bar.right() + 4, bar.top() + 10), text(formatValue(top, 4, true)));
  p.drawText(QPointF(bar.right() + 4, bar.bottom()), text(formatValue(bottomValue)));
  std::string title = h.valueUnit.empty() ? h.valueLabel : h.valueLabel + " (" + h.valueUnit + ")";
  if (h.logScale) title += ", log";
  p.drawText(QRectF(bar.left() - 6, bar.bottom() + 4, kColourBarWidth, 16), Qt::AlignLeft,
             text(title));
  if (h.zeroIsIdle) {
    p.fillRect(QRectF(bar.left(), bar.bottom() + 24, 14, 14), colour(kIdleColour));
    p.drawText(QRectF(bar.left() + 18, bar.bottom() + 23, kColourBarWidth, 16), Qt::AlignLeft,
               text(h.idleLabel));
  }
}

void drawHeatmapLabels(QPainter& p, const Chart& c, const QRectF& plot, double cellW,
                       double cellH) {
  p.setPen(colour(kAxisColour));
  const size_t rowStep = std::max<size_t>(1, size_t(std::ceil(13.0 / cellH)));
  for (size_t r = 0; r < c.heatmap.rows; r += rowStep) {
    p.drawText(QRectF(plot.left() - kHeatmapLeftMargin, plot.top() + cellH * double(r),
                      kHeatmapLeftMargin - 4, cellH),
               Qt::AlignRight | Qt::AlignVCenter, text(category(c.y, r)));
  }
  const size_t columnStep = std::max<size_t>(1, size_t(std::ceil(28.0 / cellW)));
  for (size_t col = 0; col < c.heatmap.columns; col += columnStep) {
    p.drawText(QRectF(plot.left() + cellW * double(col) - 20, plot.bottom() + 2, cellW + 40, 14),
               Qt::AlignHCenter | Qt::AlignTop, text(category(c.x, col)));
  }
  p.drawText(QRectF(plot.left(), plot.bottom() + 22, plot.width(), 16), Qt::AlignCenter,
             text(c.x.title()));
}

void paintHeatmap(QPainter& p, const Chart& c, const QRectF& area, ChartPaintResult& result) {
  const Heatmap& h = c.heatmap;
  QRectF plot = drawFrame(p, c, area, kHeatmapLeftMargin, kColourBarWidth + 20);
  const QRectF framePlot = plot;
  const double cellW = plot.width() / double(std::max<size_t>(1, h.columns));
  const double cellH = std::clamp(plot.height() / double(std::max<size_t>(1, h.rows)),
                                  kMinCellHeight, kMaxCellHeight);
  plot.setHeight(cellH * double(h.rows));
  const double top = heatmapTop(h);
  const QColor idle = colour(kIdleColour);
  const std::string unit = h.valueUnit.empty() ? h.valueLabel : h.valueUnit;
  result.marks.reserve(h.rows * h.columns);
  for (size_t r = 0; r < h.rows; ++r) {
    for (size_t col = 0; col < h.columns; ++col) {
      const double v = h.at(r, col);
      const QRectF cell(plot.left() + cellW * double(col), plot.top() + cellH * double(r), cellW,
                        cellH);
      const bool isIdle = h.zeroIsIdle && v == 0;
      p.fillRect(cell, isIdle ? idle : colour(scaleColour(h.scale, scalePosition(h, v, top))));
      QString tip = valueTip(
          c.y.label + " " + category(c.y, r) + " \u00b7 " + c.x.label + " " + category(c.x, col), v,
          unit, "");
      if (isIdle) tip += QStringLiteral(" (") + text(h.idleLabel) + QStringLiteral(")");
      result.marks.push_back({cell, tip, int(r), int(col)});
    }
  }
  drawHeatmapLabels(p, c, plot, cellW, cellH);
  drawColourBar(p, h, top, framePlot);
  result.plot = plot;
}

}  // namespace

int preferredChartHeight(const charts::Chart& chart, int width) {
  if (chart.kind != ChartKind::Heatmap) return std::clamp(width / 2, 300, 420);
  const double cells = double(chart.heatmap.rows) * 14;
  return int(kTitleHeight + kCaptionHeight + 12 + std::max(cells, 220.0) + kBottomMargin);
}

int chartWidthForCells(const charts::Chart& chart, double cellWidthPx, int width) {
  if (chart.kind != ChartKind::Heatmap) return width;
  const double needed =
      kHeatmapLeftMargin + kColourBarWidth + 20 + cellWidthPx * double(chart.heatmap.columns);
  return std::max(width, int(std::ceil(needed)));
}

ChartPaintResult paintChart(QPainter& painter, const charts::Chart& chart, const QRectF& area) {
  ChartPaintResult result;
  painter.save();
  switch (chart.kind) {
    case ChartKind::Bars:
      paintBars(painter, chart, area, result);
      break;
    case ChartKind::Xy:
      paintXy(painter, chart, area, result);
      break;
    case ChartKind::Heatmap:
      paintHeatmap(painter, chart, area, result);
      break;
  }
  painter.restore();
  return result;
}

}  // namespace moeprof::gui
