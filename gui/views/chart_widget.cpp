#include "gui/views/chart_widget.h"

#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <QWheelEvent>

namespace moeprof::gui {

ChartWidget::ChartWidget(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
}

void ChartWidget::setChart(const charts::Chart& chart) {
  chart_ = chart;
  updateMinimumWidth();
  updateGeometry();
  update();
}

void ChartWidget::setCellWidth(double px) {
  cellWidth_ = std::clamp(px, 0.0, 40.0);
  updateMinimumWidth();
  updateGeometry();
  update();
  Q_EMIT cellWidthChanged(cellWidth_);
}

void ChartWidget::updateMinimumWidth() {
  setMinimumWidth(cellWidth_ > 0 ? chartWidthForCells(chart_, cellWidth_, 0) : 0);
  setMinimumHeight(preferredChartHeight(chart_, 900));
}

QSize ChartWidget::sizeHint() const {
  const int width = std::max(900, minimumWidth());
  return {width, heightForWidth(width)};
}

int ChartWidget::heightForWidth(int width) const {
  return preferredChartHeight(chart_, width);
}

void ChartWidget::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  lastPaint_ = paintChart(painter, chart_, QRectF(rect()));
}

const ChartMark* ChartWidget::markAt(QPointF point) const {
  // Markers and points are drawn last and lie on top: search backwards.
  for (auto it = lastPaint_.marks.rbegin(); it != lastPaint_.marks.rend(); ++it) {
    if (it->rect.contains(point)) return &*it;
  }
  return nullptr;
}

void ChartWidget::mouseMoveEvent(QMouseEvent* event) {
  const ChartMark* mark = markAt(event->position());
  if (mark) {
    QToolTip::showText(event->globalPosition().toPoint(), mark->tooltip, this);
  } else {
    QToolTip::hideText();
  }
}

void ChartWidget::mousePressEvent(QMouseEvent* event) {
  if (const ChartMark* mark = markAt(event->position()))
    Q_EMIT markClicked(mark->row, mark->column);
}

void ChartWidget::wheelEvent(QWheelEvent* event) {
  if (chart_.kind != charts::ChartKind::Heatmap || !(event->modifiers() & Qt::ControlModifier)) {
    event->ignore();
    return;
  }
  const double current = cellWidth_ > 0 ? cellWidth_
                                        : lastPaint_.plot.width() /
                                              double(std::max<size_t>(1, chart_.heatmap.columns));
  setCellWidth(event->angleDelta().y() > 0 ? current * 1.25 : current / 1.25);
}

}  // namespace moeprof::gui
