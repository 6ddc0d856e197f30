#pragma once
// The trace timeline: one row per track (timeline_data.h) and the memory counter, zoom with the
// wheel or +/-, pan by dragging or with the arrow keys, 0 shows everything. Level of detail:
// per track at most one span per pixel column is drawn (the first one starting in it, widened
// to a pixel), so a redraw costs O(tracks x pixels x log spans) whatever the event count.
// Shift+drag (or the right button) selects a time range and reports it.
#include <QWidget>
#include <cstdint>
#include <optional>

#include "gui/models/timeline_data.h"

namespace moeprof::gui {

class TimelineWidget : public QWidget {
  Q_OBJECT
 public:
  static constexpr int kLabelWidth = 220;
  static constexpr int kAxisHeight = 22;
  static constexpr int kTrackHeight = 18;
  static constexpr int kCounterHeight = 48;

  explicit TimelineWidget(QWidget* parent = nullptr);
  void setTimeline(const TimelineData* timeline);  // must outlive the widget (or the next call)
  void setView(int64_t fromNs, int64_t toNs);
  void showAll();
  void zoom(double factor, double anchorX);
  int64_t viewFromNs() const { return fromNs_; }
  int64_t viewToNs() const { return toNs_; }
  // The spans drawn by the latest paint (after level of detail) and how long it took.
  size_t spansDrawn() const { return spansDrawn_; }
  double lastPaintMs() const { return lastPaintMs_; }
  QSize sizeHint() const override;

 Q_SIGNALS:
  void rangeSelected(qint64 fromNs, qint64 toNs);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;

 private:
  double xOf(int64_t ns) const;
  int64_t nsAt(double x) const;
  void paintAxis(QPainter& painter);
  void paintTrack(QPainter& painter, const TimelineTrack& track, int top);
  void paintMemory(QPainter& painter, int top);
  void paintSelection(QPainter& painter);
  QString spanTooltip(QPointF point) const;

  const TimelineData* timeline_ = nullptr;
  int64_t fromNs_ = 0;
  int64_t toNs_ = 1;
  size_t spansDrawn_ = 0;
  double lastPaintMs_ = 0;
  std::optional<double> dragStartX_{};
  int64_t dragStartFromNs_ = 0;
  bool selecting_ = false;
  double selectionFromX_ = 0, selectionToX_ = 0;
};

}  // namespace moeprof::gui
