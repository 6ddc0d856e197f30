#include "gui/views/timeline_widget.h"

#include <QElapsedTimer>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>
#include <functional>

#include "reports/charts/palette.h"
#include "reports/charts/scale.h"

namespace moeprof::gui {

namespace {

QColor spanColour(const TimelineData& data, uint32_t name) {
  const size_t hash = std::hash<std::string>{}(data.names[name]);
  return QColor(QString::fromStdString(charts::categoricalColour(int(hash % 7))));
}

}  // namespace

TimelineWidget::TimelineWidget(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setFocusPolicy(Qt::StrongFocus);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void TimelineWidget::setTimeline(const TimelineData* timeline) {
  timeline_ = timeline;
  showAll();
}

void TimelineWidget::showAll() {
  if (timeline_) setView(timeline_->startNs, timeline_->endNs);
}

void TimelineWidget::setView(int64_t fromNs, int64_t toNs) {
  fromNs_ = fromNs;
  toNs_ = std::max(toNs, fromNs + 1000);  // at least a microsecond across
  update();
}

QSize TimelineWidget::sizeHint() const {
  const int tracks = timeline_ ? int(timeline_->tracks.size()) : 4;
  return {1200, kAxisHeight + tracks * kTrackHeight + kCounterHeight + 8};
}

double TimelineWidget::xOf(int64_t ns) const {
  const double plotWidth = std::max(1, width() - kLabelWidth);
  return kLabelWidth + double(ns - fromNs_) * plotWidth / double(toNs_ - fromNs_);
}

int64_t TimelineWidget::nsAt(double x) const {
  const double plotWidth = std::max(1, width() - kLabelWidth);
  return fromNs_ + int64_t(std::llround((x - kLabelWidth) * double(toNs_ - fromNs_) / plotWidth));
}

void TimelineWidget::zoom(double factor, double anchorX) {
  const int64_t anchor = nsAt(std::max<double>(anchorX, kLabelWidth));
  setView(anchor - int64_t(double(anchor - fromNs_) / factor),
          anchor + int64_t(double(toNs_ - anchor) / factor));
}

void TimelineWidget::paintEvent(QPaintEvent*) {
  QElapsedTimer timer;
  timer.start();
  QPainter painter(this);
  painter.fillRect(rect(), Qt::white);
  spansDrawn_ = 0;
  if (!timeline_) return;
  paintAxis(painter);
  int top = kAxisHeight;
  for (const auto& track : timeline_->tracks) {
    paintTrack(painter, track, top);
    top += kTrackHeight;
  }
  paintMemory(painter, top);
  paintSelection(painter);
  lastPaintMs_ = double(timer.nsecsElapsed()) / 1e6;
}

void TimelineWidget::paintAxis(QPainter& painter) {
  const auto ticks = charts::niceTicks(0, double(toNs_ - fromNs_) / 1e6, 8, false);
  painter.setPen(QColor(charts::kAxisColour));
  for (double ms : ticks.values) {
    const double x = xOf(fromNs_ + int64_t(ms * 1e6));
    if (x < kLabelWidth) continue;
    painter.drawLine(QPointF(x, kAxisHeight - 5), QPointF(x, kAxisHeight));
    painter.drawText(QPointF(x + 2, kAxisHeight - 7),
                     QString::fromStdString(charts::formatValue(ms, 4)) + QStringLiteral(" ms"));
  }
  painter.drawText(QRect(4, 0, kLabelWidth - 8, kAxisHeight), Qt::AlignVCenter,
                   QStringLiteral("time since view start"));
}

void TimelineWidget::paintTrack(QPainter& painter, const TimelineTrack& track, int top) {
  painter.setPen(QColor(charts::kAxisColour));
  painter.drawText(QRect(4, top, kLabelWidth - 8, kTrackHeight), Qt::AlignVCenter | Qt::AlignLeft,
                   QString::fromStdString(track.name));
  painter.setPen(QColor(charts::kGridColour));
  painter.drawLine(kLabelWidth, top + kTrackHeight - 1, width(), top + kTrackHeight - 1);
  size_t i = firstSpanEndingAfter(track, fromNs_);
  while (i < track.spans.size() && track.spans[i].startNs <= toNs_) {
    const TimelineSpan& span = track.spans[i];
    const double x0 = std::max<double>(kLabelWidth, xOf(span.startNs));
    const double x1 = std::max(x0 + 1, std::min<double>(width(), xOf(span.endNs)));
    painter.fillRect(QRectF(x0, top + 2, x1 - x0, kTrackHeight - 4),
                     spanColour(*timeline_, span.name));
    ++spansDrawn_;
    // The next span worth drawing starts in the next pixel column.
    i = firstSpanStartingAt(track, i + 1, nsAt(std::floor(x1) + 1));
  }
}

void TimelineWidget::paintMemory(QPainter& painter, int top) {
  painter.setPen(QColor(charts::kAxisColour));
  painter.drawText(QRect(4, top, kLabelWidth - 8, kCounterHeight), Qt::AlignVCenter,
                   QStringLiteral("allocated memory"));
  const auto& memory = timeline_->memory;
  if (memory.empty()) return;
  int64_t peak = 1;
  for (const auto& sample : memory) peak = std::max(peak, sample.second);
  auto it = std::lower_bound(memory.begin(), memory.end(), std::pair<int64_t, int64_t>{fromNs_, 0});
  if (it != memory.begin()) --it;
  QPolygonF line;
  while (it != memory.end() && it->first <= toNs_) {
    const double x = std::max<double>(kLabelWidth, xOf(it->first));
    line << QPointF(
        x, top + kCounterHeight - 4 - double(it->second) / double(peak) * (kCounterHeight - 8));
    // One sample per pixel column, as for spans.
    it = std::lower_bound(it + 1, memory.end(),
                          std::pair<int64_t, int64_t>{nsAt(std::floor(x) + 1), 0});
  }
  painter.setPen(QPen(QColor(QString::fromStdString(charts::categoricalColour(0))), 1.5));
  painter.drawPolyline(line);
}

void TimelineWidget::paintSelection(QPainter& painter) {
  if (!selecting_) return;
  const double left = std::min(selectionFromX_, selectionToX_);
  painter.fillRect(QRectF(left, 0, std::abs(selectionToX_ - selectionFromX_), height()),
                   QColor(0, 114, 178, 50));
}

void TimelineWidget::wheelEvent(QWheelEvent* event) {
  zoom(event->angleDelta().y() > 0 ? 1.25 : 0.8, event->position().x());
}

void TimelineWidget::mousePressEvent(QMouseEvent* event) {
  if (event->button() == Qt::RightButton || (event->modifiers() & Qt::ShiftModifier)) {
    selecting_ = true;
    selectionFromX_ = selectionToX_ = event->position().x();
  } else {
    dragStartX_ = event->position().x();
    dragStartFromNs_ = fromNs_;
  }
}

void TimelineWidget::mouseMoveEvent(QMouseEvent* event) {
  const double x = event->position().x();
  if (selecting_) {
    selectionToX_ = x;
    update();
  } else if (dragStartX_) {
    const int64_t span = toNs_ - fromNs_;
    const int64_t shift = nsAt(*dragStartX_) - nsAt(x);
    fromNs_ = dragStartFromNs_ + shift;
    setView(fromNs_, fromNs_ + span);
  } else {
    const QString tip = spanTooltip(event->position());
    if (tip.isEmpty())
      QToolTip::hideText();
    else
      QToolTip::showText(event->globalPosition().toPoint(), tip, this);
  }
}

void TimelineWidget::mouseReleaseEvent(QMouseEvent*) {
  dragStartX_.reset();
  if (!selecting_) return;
  selecting_ = false;
  const int64_t a = nsAt(std::min(selectionFromX_, selectionToX_));
  const int64_t b = nsAt(std::max(selectionFromX_, selectionToX_));
  update();
  if (b > a) Q_EMIT rangeSelected(a, b);
}

void TimelineWidget::keyPressEvent(QKeyEvent* event) {
  const int64_t step = (toNs_ - fromNs_) / 5;
  switch (event->key()) {
    case Qt::Key_Plus:
    case Qt::Key_Equal:
      zoom(1.5, width() / 2.0 + kLabelWidth / 2.0);
      break;
    case Qt::Key_Minus:
      zoom(1 / 1.5, width() / 2.0 + kLabelWidth / 2.0);
      break;
    case Qt::Key_Left:
      setView(fromNs_ - step, toNs_ - step);
      break;
    case Qt::Key_Right:
      setView(fromNs_ + step, toNs_ + step);
      break;
    case Qt::Key_0:
      showAll();
      break;
    default:
      QWidget::keyPressEvent(event);
  }
}

QString TimelineWidget::spanTooltip(QPointF point) const {
  if (!timeline_ || point.x() < kLabelWidth) return {};
  const int row = (int(point.y()) - kAxisHeight) / kTrackHeight;
  if (point.y() < kAxisHeight || row >= int(timeline_->tracks.size())) return {};
  const auto& track = timeline_->tracks[size_t(row)];
  const int64_t at = nsAt(point.x()), slack = nsAt(point.x() + 2) - at;
  for (size_t i = firstSpanEndingAfter(track, at - slack);
       i < track.spans.size() && track.spans[i].startNs <= at + slack; ++i) {
    const auto& span = track.spans[i];
    if (span.endNs + slack < at) continue;
    return QStringLiteral("%1\n%2 µs")
        .arg(QString::fromStdString(timeline_->names[span.name]))
        .arg(double(span.endNs - span.startNs) / 1e3);
  }
  return {};
}

}  // namespace moeprof::gui
