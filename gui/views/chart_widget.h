#pragma once
// A widget that shows one chart description (chart_painter.h) with exact values on hover.
// Heatmaps zoom horizontally (Ctrl + wheel, or setCellWidth) so E = 512 experts stay legible
// inside a scroll area; a click on a mark reports its row and column.
#include <QWidget>
#include <optional>

#include "gui/views/chart_painter.h"

namespace moeprof::gui {

class ChartWidget : public QWidget {
  Q_OBJECT
 public:
  explicit ChartWidget(QWidget* parent = nullptr);
  void setChart(const charts::Chart& chart);
  const charts::Chart& chart() const { return chart_; }
  // Heatmaps: the width of one cell in px; 0 fits the columns into the widget's width.
  void setCellWidth(double px);
  double cellWidth() const { return cellWidth_; }
  // The marks of the latest paint (cells, bars, points, markers).
  const ChartPaintResult& lastPaint() const { return lastPaint_; }
  QSize sizeHint() const override;
  bool hasHeightForWidth() const override { return true; }
  int heightForWidth(int width) const override;

 Q_SIGNALS:
  void markClicked(int row, int column);
  void cellWidthChanged(double px);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;

 private:
  const ChartMark* markAt(QPointF point) const;
  void updateMinimumWidth();

  charts::Chart chart_{};
  ChartPaintResult lastPaint_{};
  double cellWidth_ = 0;
};

}  // namespace moeprof::gui
