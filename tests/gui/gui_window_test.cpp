// The dashboard end to end, offscreen: record two small runs with the moeprof binary (lm-tiny,
// static and dynamic gating, traced), open them, visit every view, select a time range on the
// timeline and check what the models then hold; compare the runs; open malformed input and
// get a message, not a crash; render a view with --screenshot.
#include <QImage>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "gui/app/compare_page.h"
#include "gui/app/heatmap_page.h"
#include "gui/app/main_window.h"
#include "gui/app/timeline_page.h"
#include "gui/views/chart_widget.h"
#include "gui/views/timeline_widget.h"

using namespace moeprof::gui;

namespace {

int runProcess(const QString& program, const QStringList& arguments, QByteArray* output = nullptr) {
  QProcess process;
  process.setProcessChannelMode(QProcess::MergedChannels);
  process.start(program, arguments);
  if (!process.waitForFinished(240'000)) return -1;
  if (output) *output = process.readAll();
  return process.exitCode();
}

bool openAndWait(MainWindow& window, const QStringList& paths) {
  QSignalSpy finished(&window, &MainWindow::loadFinished);
  window.openPaths(paths);
  if (!finished.wait(120'000)) return false;
  return finished.front().front().toBool();
}

bool hasInk(const QImage& image) {
  const QColor first = image.pixelColor(0, 0);
  for (int y = 0; y < image.height(); y += 7)
    for (int x = 0; x < image.width(); x += 7)
      if (image.pixelColor(x, y) != first) return true;
  return false;
}

}  // namespace

class GuiWindowTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    for (const char* gating : {"static", "dynamic"}) {
      const QString out = dir_.filePath(QStringLiteral("lm-tiny-%1-b8").arg(gating));
      QByteArray log;
      const int code = runProcess(MOEPROF_BINARY,
                                  {"run", "--workload", "lm", "--preset", "lm-tiny", "--gating",
                                   gating, "--trace", "full", "--out", out},
                                  &log);
      QVERIFY2(code == 0, log.constData());
      runs_ << out;
    }
  }

  void opensRunsAndVisitsEveryView() {
    MainWindow window;
    window.resize(1200, 800);
    QVERIFY(openAndWait(window, runs_));
    window.show();
    for (const auto& name : MainWindow::pageNames()) {
      window.showPage(name);
      QVERIFY2(hasInk(window.grab().toImage()), qPrintable(name));
      QVERIFY2(hasInk(window.page(name)->exportTarget().grab().toImage()), qPrintable(name));
    }
    QCOMPARE(window.runs()->routings.size(), size_t(2));
  }

  void heatmapShowsTheRecordedRouting() {
    MainWindow window;
    QVERIFY(openAndWait(window, runs_));
    HeatmapPage& page = window.heatmapPage();
    const auto& loads = window.runs()->routings.front().loads;
    QCOMPARE(page.model().rowCount(), int(loads.layers.size()));
    QCOMPARE(page.model().columnCount(), int(loads.numExperts));
    QCOMPARE(page.model().data(page.model().index(0, 1), Qt::DisplayRole).toDouble(),
             loads.layers[0].tokens[0][1]);
    window.showPage("heatmap");
    window.show();
    window.grab();
    QCOMPARE(page.heatmap().lastPaint().marks.size(), loads.layers.size() * loads.numExperts);
    page.setLogScale(true);
    QVERIFY(page.heatmap().chart().heatmap.logScale);
    page.model().setPassIndex(1);
    QVERIFY(page.heatmap().chart().title.find("batch") != std::string::npos);
    page.showExpertLoad(0, 1);
    QVERIFY(page.expertLoad().isVisible());
  }

  void timeRangeFiltersTheHeatmapPasses() {
    MainWindow window;
    QVERIFY(openAndWait(window, runs_));
    const auto& timeline = *window.runs()->timeline;
    QVERIFY(timeline.eventCount > 0);
    QVERIFY(!timeline.passes.empty());
    // The passes routed in the second half of the trace.
    const int64_t middle = timeline.startNs + (timeline.endNs - timeline.startNs) / 2;
    const auto expected = passesInRange(timeline, middle, timeline.endNs);
    window.timelinePage().selectRange(middle, timeline.endNs);
    QCOMPARE(window.heatmapPage().model().passes(), expected);
    auto& tracks = window.timelinePage().tracks();
    qlonglong inRange = 0, all = 0;
    for (int r = 0; r < tracks.rowCount(); ++r) {
      inRange +=
          tracks.data(tracks.index(r, 0), TimelineTrackModel::kSpansInRangeRole).toLongLong();
      all += tracks.data(tracks.index(r, 0), TimelineTrackModel::kSpanCountRole).toLongLong();
    }
    QVERIFY(inRange > 0);
    QVERIFY(inRange < all);
  }

  void comparesTheTwoRuns() {
    MainWindow window;
    QVERIFY(openAndWait(window, runs_));
    ComparePage& page = window.comparePage();
    QVERIFY(page.verdicts().rowCount() > 0);
    QVERIFY2(page.summary().contains("regressed"), qPrintable(page.summary()));
  }

  void malformedRunOpensWithAMessage() {
    const QString bad = dir_.filePath("broken-run");
    QDir().mkpath(bad);
    QFile manifest(bad + "/run.json");
    QVERIFY(manifest.open(QIODevice::WriteOnly));
    manifest.write("{\"schema_version\": 1, \"config\": ");
    manifest.close();
    MainWindow window;
    QVERIFY(!openAndWait(window, {bad}));
    QVERIFY2(window.message().contains("broken-run"), qPrintable(window.message()));
    QVERIFY(!openAndWait(window, {dir_.filePath("missing")}));
    QVERIFY(!window.message().isEmpty());
    QVERIFY(openAndWait(window, runs_));  // and the window still works
  }

  void screenshotRendersAViewWithoutAWindow() {
    const QString png = dir_.filePath("heatmap.png");
    QByteArray log;
    QCOMPARE(runProcess(MOEPROF_GUI_BINARY,
                        {"--screenshot", "heatmap", "--out", png, runs_.front()}, &log),
             0);
    QVERIFY(hasInk(QImage(png)));
    QCOMPARE(
        runProcess(MOEPROF_GUI_BINARY, {"--screenshot", "nope", "--out", png, runs_.front()}, &log),
        2);
    QVERIFY(log.contains("allowed"));
  }

 private:
  QTemporaryDir dir_;
  QStringList runs_;
};

QTEST_MAIN(GuiWindowTest)
#include "gui_window_test.moc"
