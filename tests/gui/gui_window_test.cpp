// The dashboard end to end, offscreen: record two small runs with the moeprof binary (lm-tiny,
// static and dynamic gating, traced), open them, visit every view, select a time range on the
// timeline and check what the models then hold; compare the runs; open malformed input and
// get a message, not a crash; render a view with --screenshot. A buffered run's time range
// replays only its passes in the Cache and Placement views; a 2-rank run and an Nsight Systems
// export open like any run.
#include <QImage>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <set>

#include "analysis/trace_loader.h"
#include "gui/app/compare_page.h"
#include "gui/app/heatmap_page.h"
#include "gui/app/main_window.h"
#include "gui/app/pages.h"
#include "gui/app/timeline_page.h"
#include "gui/views/chart_widget.h"
#include "gui/views/timeline_widget.h"
#include "tests/support/nsys_export.h"

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

// The first chart of a page whose id starts with `prefix`.
const moeprof::charts::Chart* findChart(const ChartListPage& page, const std::string& prefix) {
  for (const auto* widget : page.chartWidgets()) {
    if (widget->chart().id.rfind(prefix, 0) == 0) return &widget->chart();
  }
  return nullptr;
}

double firstSeriesSum(const moeprof::charts::Chart& chart) {
  double sum = 0;
  for (const auto& d : chart.series.front().data) sum += d.y;
  return sum;
}

int recordRun(const QString& out, const QStringList& extra) {
  QByteArray log;
  const int code = runProcess(MOEPROF_BINARY,
                              QStringList{"run", "--workload", "lm", "--preset", "lm-tiny",
                                          "--gating", "dynamic", "--trace", "ops", "--out", out} +
                                  extra,
                              &log);
  if (code != 0) qWarning("%s", log.constData());
  return code;
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
    buffered_ = dir_.filePath("lm-tiny-buffered");
    QCOMPARE(recordRun(buffered_, {"--buffering", "lifo", "--cache-slots", "3", "--repeats", "6"}),
             0);
    ranks_ = dir_.filePath("lm-tiny-ranks");
    QCOMPARE(recordRun(ranks_, {"--ranks", "2", "--repeats", "4"}), 0);
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

  void timeRangeReplaysCacheAndPlacement() {
    MainWindow window;
    QVERIFY(openAndWait(window, {buffered_}));
    auto& cache = static_cast<ChartListPage&>(*window.page("cache"));
    auto& placement = static_cast<ChartListPage&>(*window.page("placement"));
    const auto* wholeMisses = findChart(cache, "cache-misses-");
    const auto* wholePlacement = findChart(placement, "placement-");
    QVERIFY(wholeMisses && wholePlacement && findChart(cache, "miss-rate-"));
    const auto allMisses = wholeMisses->heatmap.values;
    const double allTokens = firstSeriesSum(*wholePlacement);

    // From the first routing of batch 4 to the end: the last 2 of 6 measured batches.
    const auto& timeline = *window.runs()->timeline;
    const auto fifth = std::find_if(timeline.passes.begin(), timeline.passes.end(),
                                    [](const PassTime& p) { return p.batch >= 4; });
    QVERIFY(fifth != timeline.passes.end());
    std::set<uint32_t> batches;
    for (const auto& pass : passesInRange(timeline, fifth->timestampNs, timeline.endNs)) {
      batches.insert(pass.first);
    }
    QCOMPARE(batches, (std::set<uint32_t>{4, 5}));
    window.timelinePage().selectRange(fifth->timestampNs, timeline.endNs);
    QTRY_VERIFY_WITH_TIMEOUT(cache.note().contains("time range"), 60'000);

    // Misses of the selected batches only, each as in the whole run.
    const auto* misses = findChart(cache, "cache-misses-");
    QVERIFY(misses && findChart(cache, "miss-rate-"));
    const size_t columns = misses->heatmap.columns;
    QCOMPARE(misses->heatmap.values.size(), allMisses.size());
    double selected = 0;
    for (size_t i = 0; i < allMisses.size(); ++i) {
      const bool inRange = batches.count(uint32_t(i % columns)) > 0;
      QCOMPARE(misses->heatmap.values[i], inRange ? allMisses[i] : 0.0);
      selected += misses->heatmap.values[i];
    }
    QVERIFY(selected > 0);
    // Placement judged on 1 pass of the 2 instead of 3 of 6: a third of the tokens.
    QVERIFY(placement.note().contains("time range"));
    const auto* part = findChart(placement, "placement-");
    QVERIFY(part);
    QCOMPARE(firstSeriesSum(*part), allTokens / 3);
  }

  void opensAMultiRankRun() {
    MainWindow window;
    QVERIFY(openAndWait(window, {ranks_}));
    std::set<QString> ranks;
    for (const auto& track : window.runs()->timeline->tracks) {
      const QString name = QString::fromStdString(track.name);
      if (name.startsWith("rank ")) ranks.insert(name.section(' ', 0, 1));
    }
    QCOMPARE(ranks, (std::set<QString>{"rank 0", "rank 1"}));
    const auto* rows =
        findChart(static_cast<ChartListPage&>(*window.page("placement")), "rank-rows");
    QVERIFY(rows);
    QCOMPARE(rows->x.categories.size(), size_t(2));
  }

  void opensAnNsightSystemsExport() {
    const std::filesystem::path file = dir_.filePath("report.sqlite").toStdString();
    moeprof::testing::writeNsysExport(file);
    MainWindow window;
    QVERIFY2(openAndWait(window, {QString::fromStdString(file.string())}),
             qPrintable(window.message()));
    const auto trace = moeprof::analysis::loadTrace(file);
    size_t onStreams = 0;
    for (const auto& track : window.runs()->timeline->tracks) {
      if (track.name.rfind("GPU ", 0) == 0) onStreams += track.spans.size();
    }
    QVERIFY(!trace.kernels.empty());
    QCOMPARE(onStreams, trace.kernels.size() + trace.memcpys.size() + trace.memsets.size());
  }

  void openingDuringALoadDoesNotWaitForIt() {
    MainWindow window;
    QSignalSpy finished(&window, &MainWindow::loadFinished);
    window.openPaths({runs_.front()});
    window.openPaths({buffered_});
    QVERIFY(window.isLoading());  // the second load is queued, not waited for
    QVERIFY(finished.wait(120'000));
    QTRY_VERIFY_WITH_TIMEOUT(!window.isLoading(), 120'000);
    QCOMPARE(window.runs()->paths, (std::vector<std::filesystem::path>{buffered_.toStdString()}));
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
  QString buffered_;
  QString ranks_;
};

QTEST_MAIN(GuiWindowTest)
#include "gui_window_test.moc"
