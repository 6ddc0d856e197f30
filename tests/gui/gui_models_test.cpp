// The dashboard's item models on inputs whose contents are known exactly: every model passes
// QAbstractItemModelTester, and holds the numbers it was given (no metric is recomputed).
#include <QAbstractItemModelTester>
#include <QSortFilterProxyModel>
#include <QtTest>

#include "gui/models/heatmap_model.h"
#include "gui/models/loaded_runs.h"
#include "gui/models/table_model.h"
#include "gui/models/timeline_model.h"

using namespace moeprof;
using namespace moeprof::gui;

namespace {

// 2 layers x 4 experts: layer 0 has passes (0,0) and (1,0); layer 1 (a decoder) has (0,0),
// (0,1) and (1,0). Expert 3 of layer 0 is idle in pass (0,0).
analysis::RoutingLoads knownLoads() {
  analysis::RoutingLoads loads;
  loads.numExperts = 4;
  loads.topK = 1;
  analysis::LayerLoads l0;
  l0.rows = {{0, 0}, {1, 0}};
  l0.tokens = {{5, 2, 1, 0}, {1, 1, 1, 5}};
  analysis::LayerLoads l1;
  l1.layer.stack = collector::LayerStack::Decoder;
  l1.rows = {{0, 0}, {0, 1}, {1, 0}};
  l1.tokens = {{1, 1, 1, 5}, {4, 0, 0, 4}, {2, 2, 2, 2}};
  loads.layers = {l0, l1};
  return loads;
}

collector::Trace knownTrace() {
  collector::Trace trace;
  trace.operators.push_back({1000, 5000, 7, "aten::linear", -1, 0, 1});
  trace.operators.push_back({1100, 2000, 7, "aten::addmm", -1, 1, 2});
  trace.operators.push_back({6000, 9000, 7, "aten::linear", -1, 0, 3});
  trace.ranges.push_back({900, 9500, 7, "moeprof", "experts", false});
  trace.cache.push_back({3000, 0, 0, 2, 1, collector::CacheAction::Miss, 0});
  trace.routing.push_back({1500, 0, 0, 0, 8, {}});
  trace.routing.push_back({6500, 1, 0, 0, 8, {}});
  trace.memory.push_back({1200, 7, 0, -1, 64, 64, 64, 0});
  return trace;
}

}  // namespace

class GuiModelsTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void heatmapHoldsTheLoadsOfEachPass() {
    const auto loads = knownLoads();
    ExpertHeatmapModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setLoads(&loads, "known");
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.columnCount(), 4);
    QCOMPARE(model.passes().size(), size_t(3));  // (0,0), (0,1), (1,0)
    QCOMPARE(model.data(model.index(0, 0), Qt::DisplayRole).toDouble(), 5.0);
    QVERIFY(model.data(model.index(0, 3), Qt::ToolTipRole).toString().contains("idle"));
    model.setPassIndex(1);  // (0,1): only the decoder layer has it
    QVERIFY(!model.data(model.index(0, 0), Qt::DisplayRole).isValid());
    QCOMPARE(model.data(model.index(1, 0), Qt::DisplayRole).toDouble(), 4.0);
    model.setPassIndex(2);
    QCOMPARE(model.data(model.index(0, 3), Qt::DisplayRole).toDouble(), 5.0);
  }

  void heatmapChartHasOneCellPerLayerAndExpert() {
    const auto loads = knownLoads();
    ExpertHeatmapModel model;
    model.setLoads(&loads, "known");
    const auto chart = model.passChart(true);
    QCOMPARE(chart.heatmap.rows, size_t(2));
    QCOMPARE(chart.heatmap.columns, size_t(4));
    QCOMPARE(chart.heatmap.at(0, 0), 5.0);
    QCOMPARE(chart.heatmap.at(0, 3), 0.0);
    QVERIFY(chart.heatmap.logScale);
    const auto load = model.expertLoadChart(1, 3);
    QCOMPARE(load.series.front().data.size(), size_t(3));
    QCOMPARE(load.series.front().data[1].y, 4.0);
  }

  void passFilterKeepsOnlyTheSelectedPasses() {
    const auto loads = knownLoads();
    ExpertHeatmapModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setLoads(&loads, "known");
    model.setPassFilter(std::vector<Pass>{{1, 0}});
    QCOMPARE(model.passes().size(), size_t(1));
    QCOMPARE(model.data(model.index(1, 0), Qt::DisplayRole).toDouble(), 2.0);
    model.setPassFilter(std::nullopt);
    QCOMPARE(model.passes().size(), size_t(3));
  }

  void tableModelSortsNumbersByValue() {
    reports::Table table({"finding", "measured"}, {reports::Align::Left, reports::Align::Right});
    table.addRow({"a", "10.5x"});
    table.addRow({"b", "9.00x"});
    table.addRow({"c", "reproduced"});
    ReportTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setTable(table);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.data(model.index(0, 1), Qt::UserRole).toDouble(), 10.5);
    QVERIFY(model.data(model.index(2, 1), Qt::BackgroundRole).isValid());
    QSortFilterProxyModel sorted;
    sorted.setSourceModel(&model);
    sorted.setSortRole(Qt::UserRole);
    sorted.sort(1);
    QCOMPARE(sorted.data(sorted.index(0, 0)).toString(), QStringLiteral("b"));
  }

  void cancelledLoadStopsBeforeReading() {
    const std::atomic<bool> cancelled{true};
    QVERIFY_THROWS_EXCEPTION(LoadCancelled, loadRuns({"/nonexistent"}, {{}, &cancelled}));
  }

  void timelineTracksAndRanges() {
    const TimelineData timeline = buildTimeline(knownTrace());
    QCOMPARE(timeline.startNs, int64_t(900));
    QCOMPARE(timeline.endNs, int64_t(9500));
    TimelineTrackModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setTimeline(&timeline);
    QCOMPARE(model.rowCount(), 4);  // ops depth 0, ops depth 1, NVTX, expert cache
    int depth0 = -1;
    for (int r = 0; r < model.rowCount(); ++r) {
      if (model.data(model.index(r, 0), Qt::DisplayRole).toString().endsWith("ops depth 0"))
        depth0 = r;
    }
    QVERIFY(depth0 >= 0);
    QCOMPARE(model.data(model.index(depth0, 0), TimelineTrackModel::kSpanCountRole).toLongLong(),
             2);
    model.setRange(5500, 7000);
    QCOMPARE(model.data(model.index(depth0, 0), TimelineTrackModel::kSpansInRangeRole).toLongLong(),
             1);
    const auto passes = passesInRange(timeline, 5500, 7000);
    QCOMPARE(passes.size(), size_t(1));
    QCOMPARE(passes.front(), (std::pair<uint32_t, uint32_t>{1, 0}));
  }
};

QTEST_MAIN(GuiModelsTest)
#include "gui_models_test.moc"
