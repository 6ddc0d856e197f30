// The QPainter views on known inputs: a heatmap chart draws one mark per cell with idle cells in
// the idle colour, a bar chart one mark per bar and marker, the timeline draws at most one span
// per pixel column however many there are, and views export to PNG and SVG.
#include <QImage>
#include <QTemporaryDir>
#include <QtTest>

#include "gui/views/chart_widget.h"
#include "gui/views/timeline_widget.h"
#include "gui/views/view_export.h"
#include "reports/charts/palette.h"

using namespace moeprof;
using namespace moeprof::gui;

namespace {

charts::Chart knownHeatmap() {
  charts::Chart chart;
  chart.kind = charts::ChartKind::Heatmap;
  chart.title = "known";
  chart.x.label = "expert";
  chart.y.label = "layer";
  chart.heatmap.rows = 2;
  chart.heatmap.columns = 3;
  chart.heatmap.values = {0, 1, 2, 3, 4, 5};  // cell (0, 0) idle
  chart.heatmap.valueLabel = "tokens";
  return chart;
}

charts::Chart knownBars() {
  charts::Chart chart;
  chart.kind = charts::ChartKind::Bars;
  chart.x.categories = {"a", "b", "c"};
  for (int s = 0; s < 2; ++s) {
    charts::Series series{"series " + std::to_string(s), charts::SeriesStyle::Bars, {}};
    for (int i = 0; i < 3; ++i) series.data.push_back({double(i), double(1 + i + s), {}, ""});
    chart.series.push_back(series);
  }
  chart.markers.push_back({1, 0, 2.5, "paper", ""});
  return chart;
}

}  // namespace

class GuiViewsTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void heatmapDrawsEveryCellWithIdleCellsDistinct() {
    QImage image(900, 400, QImage::Format_RGB32);
    QPainter painter(&image);
    const auto result = paintChart(painter, knownHeatmap(), QRectF(0, 0, 900, 400));
    painter.end();
    QCOMPARE(result.marks.size(), size_t(6));
    const ChartMark& idle = result.marks.front();
    QCOMPARE(idle.row, 0);
    QCOMPARE(idle.column, 0);
    QVERIFY(idle.tooltip.contains("idle"));
    QCOMPARE(image.pixelColor(idle.rect.center().toPoint()), QColor(charts::kIdleColour));
    const ChartMark& hot = result.marks.back();
    QVERIFY(hot.tooltip.contains("5"));
    QVERIFY(image.pixelColor(hot.rect.center().toPoint()) != QColor(charts::kIdleColour));
  }

  void wideHeatmapZoomsIntoAScrollableWidth() {
    charts::Chart chart = knownHeatmap();
    chart.heatmap.columns = 512;
    chart.heatmap.values.assign(2 * 512, 1.0);
    ChartWidget widget;
    widget.setChart(chart);
    widget.setCellWidth(10);
    QVERIFY(widget.minimumWidth() >= 512 * 10);
    widget.resize(widget.minimumWidth(), 400);
    widget.grab();
    QCOMPARE(widget.lastPaint().marks.size(), size_t(1024));
    QVERIFY(widget.lastPaint().marks.front().rect.width() >= 9.9);
    widget.setCellWidth(0);  // fit
    QCOMPARE(widget.minimumWidth(), 0);
  }

  void barChartDrawsEveryBarAndMarker() {
    QImage image(900, 400, QImage::Format_RGB32);
    QPainter painter(&image);
    const auto result = paintChart(painter, knownBars(), QRectF(0, 0, 900, 400));
    QCOMPARE(result.marks.size(), size_t(7));  // 2 series x 3 categories + 1 marker
  }

  void timelineDrawsAtMostOneSpanPerPixel() {
    collector::Trace trace;
    for (int64_t i = 0; i < 200'000; ++i) {
      trace.operators.push_back({i * 100, i * 100 + 50, 1, i % 2 ? "a" : "b", -1, 0, uint64_t(i)});
    }
    const TimelineData timeline = buildTimeline(trace);
    TimelineWidget widget;
    widget.resize(TimelineWidget::kLabelWidth + 800, 200);
    widget.setTimeline(&timeline);
    widget.grab();
    QVERIFY(widget.spansDrawn() > 0);
    QVERIFY(widget.spansDrawn() <= 801);
    widget.setView(0, 100 * 50);  // 50 spans in view: all drawn
    widget.grab();
    QCOMPARE(widget.spansDrawn(), size_t(51));
  }

  void viewsExportPngAndSvg() {
    QTemporaryDir dir;
    ChartWidget widget;
    widget.resize(900, 400);
    widget.setChart(knownBars());
    QCOMPARE(exportWidget(widget, dir.filePath("bars.png")), QString());
    QVERIFY(!QImage(dir.filePath("bars.png")).isNull());
    QVERIFY(!exportWidget(widget, dir.filePath("bars.bmp")).isEmpty());
    if (!svgExportAvailable()) QSKIP("built without Qt Svg");
    QCOMPARE(exportWidget(widget, dir.filePath("bars.svg")), QString());
    QFile svg(dir.filePath("bars.svg"));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    QVERIFY(svg.readAll().contains("<svg"));
  }
};

QTEST_MAIN(GuiViewsTest)
#include "gui_views_test.moc"
