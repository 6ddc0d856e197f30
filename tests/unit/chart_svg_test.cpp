// The chart library on known inputs: how many marks each chart draws, their labels and exact
// hover values, idle heatmap cells, binning of wide heatmaps, and well-formed, self-contained SVG.
// Built into moeprof_chart_tests (torch-free, tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "reports/charts/chart.h"
#include "reports/charts/palette.h"
#include "reports/charts/scale.h"
#include "reports/charts/svg_renderer.h"
#include "tests/support/markup_check.h"

namespace moeprof::charts {
namespace {

using moeprof::testing::checkMarkup;
using moeprof::testing::countOf;

Chart groupedBars() {
  Chart c;
  c.kind = ChartKind::Bars;
  c.id = "speedup";
  c.title = "Dynamic over static gating";
  c.x = {"phase", "", false, {}, {}, {"lm forward", "mt encoder", "mt decoder"}};
  c.y = {"throughput gain", "x", false, {}, {}, {}};
  Series a{"batch 8", SeriesStyle::Bars, {{0, 6.5}, {1, 5.25}, {2, 2.125}}};
  Series b{"batch 48", SeriesStyle::Bars, {{0, 3.0, Interval{2.5, 3.5}}, {1, 4.0}, {2, 1.5}}};
  c.series = {a, b};
  c.markers = {{0, -1, 6.21, "paper", ""}, {1, -1, 5.75, "paper", ""}};
  return c;
}

TEST(ChartSvg, GroupedBarsDrawOneRectPerValueWithExactTooltips) {
  const std::string svg = renderSvg(groupedBars());
  EXPECT_EQ(checkMarkup(svg), "");
  // Bars carry a <title>; markers (paths) too; legend swatches do not.
  EXPECT_EQ(countOf(svg, "</title></rect>"), 6u);
  EXPECT_EQ(countOf(svg, "</title></path>"), 2u);
  EXPECT_NE(svg.find("<title>batch 8 \u00b7 lm forward: 6.5x</title>"), std::string::npos);
  EXPECT_NE(svg.find("batch 48 \u00b7 lm forward: 3x (interval 2.5 to 3.5)"), std::string::npos);
  EXPECT_NE(svg.find("<title>paper \u00b7 mt encoder: 5.75x</title>"), std::string::npos);
  for (const char* label : {"lm forward", "mt encoder", "mt decoder", "throughput gain (x)",
                            "batch 8", "batch 48", "paper", "Dynamic over static gating"}) {
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
  EXPECT_EQ(markCount(groupedBars()), 8u);
}

TEST(ChartSvg, StandaloneHasTheNamespaceInlineReferencesNothing) {
  const std::string standalone = renderSvg(groupedBars());
  EXPECT_EQ(standalone.rfind("<?xml", 0), 0u);
  EXPECT_NE(standalone.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  SvgOptions inlineOptions;
  inlineOptions.standalone = false;
  const std::string inlined = renderSvg(groupedBars(), inlineOptions);
  EXPECT_EQ(inlined.find("http"), std::string::npos);
  EXPECT_EQ(inlined.find("href"), std::string::npos);
  EXPECT_EQ(checkMarkup(inlined), "");
}

TEST(ChartSvg, StackedBarsStackEverySeries) {
  Chart c;
  c.kind = ChartKind::Bars;
  c.barLayout = BarLayout::Stacked;
  c.title = "Phases";
  c.x.categories = {"static", "dynamic"};
  c.y = {"time per batch", "ms", false, {}, {}, {}};
  for (const char* phase : {"gate", "dispatch", "experts", "combine", "attention", "other"}) {
    c.series.push_back({phase, SeriesStyle::Bars, {{0, 1.0}, {1, 0.5}}});
  }
  const std::string svg = renderSvg(c);
  EXPECT_EQ(checkMarkup(svg), "");
  EXPECT_EQ(countOf(svg, "</title></rect>"), 12u);
  EXPECT_NE(svg.find("<title>experts \u00b7 dynamic: 0.5 ms</title>"), std::string::npos);
}

TEST(ChartSvg, ManyBarsMakeTheChartWiderNotThinner) {
  Chart c;
  c.kind = ChartKind::Bars;
  c.title = "Tokens per expert";
  Series s{"tokens", SeriesStyle::Bars, {}};
  for (int e = 0; e < 512; ++e) {
    c.x.categories.push_back(std::to_string(e));
    s.data.push_back({double(e), double(e % 7)});
  }
  c.series = {s};
  const std::string svg = renderSvg(c);
  EXPECT_EQ(countOf(svg, "</title></rect>"), 512u);
  const size_t at = svg.find("width=\"", svg.find("<svg")) + 7;
  EXPECT_GE(std::stod(svg.substr(at)), 512 * 8.0);
}

TEST(ChartSvg, XyLinesAndPointsWithMarkersAndReferenceLines) {
  Chart c;
  c.kind = ChartKind::Xy;
  c.title = "Miss rate";
  c.x = {"slots", "", false, {}, {}, {}};
  c.y = {"miss rate", "", false, 0.0, 1.0, {}};
  c.series = {{"lifo", SeriesStyle::LinePoints, {{1, 0.9}, {2, 0.7}, {4, 0.4}}},
              {"belady (floor)", SeriesStyle::LinePoints, {{1, 0.8}, {2, 0.5}, {4, 0.2}}, 7, true},
              {"timeline", SeriesStyle::Line, {{1, 0.1}, {2, 0.2}, {3, 0.15}, {4, 0.1}}}};
  c.markers = {{10, -1, 0.3, "paper", "slots chosen"}};
  c.referenceLines = {{0.5, "half"}};
  const std::string svg = renderSvg(c);
  EXPECT_EQ(checkMarkup(svg), "");
  EXPECT_EQ(countOf(svg, "</title></circle>"), 6u);
  EXPECT_EQ(countOf(svg, "<polyline"), 3u);
  // The belady line, the reference line, and their legend entries.
  EXPECT_EQ(countOf(svg, "stroke-dasharray"), 4u);
  EXPECT_NE(svg.find("<title>lifo \u00b7 slots 4: 0.4</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>timeline (4 points): 0.1 to 0.2</title>"), std::string::npos);
  EXPECT_NE(svg.find("paper: 0.3 at slots 10; slots chosen"), std::string::npos);
  EXPECT_NE(svg.find(">half = 0.5<"), std::string::npos);
}

Chart heatmap(size_t rows, size_t columns) {
  Chart c;
  c.kind = ChartKind::Heatmap;
  c.title = "Tokens per expert";
  c.x = {"expert", "", false, {}, {}, {}};
  c.y = {"layer", "", false, {}, {}, {}};
  for (size_t col = 0; col < columns; ++col) c.x.categories.push_back(std::to_string(col));
  for (size_t r = 0; r < rows; ++r) c.y.categories.push_back("L" + std::to_string(r));
  c.heatmap.rows = rows;
  c.heatmap.columns = columns;
  c.heatmap.valueLabel = "tokens";
  for (size_t r = 0; r < rows; ++r) {
    for (size_t col = 0; col < columns; ++col) {
      c.heatmap.values.push_back(col % 3 == 0 ? 0.0 : double(r * columns + col));
    }
  }
  return c;
}

TEST(ChartSvg, HeatmapDrawsEveryCellIdleOnesInTheNeutralColour) {
  const Chart c = heatmap(2, 6);
  const std::string svg = renderSvg(c);
  EXPECT_EQ(checkMarkup(svg), "");
  EXPECT_EQ(countOf(svg, "</title></rect>"), 12u);
  // 4 idle cells, plus the idle swatch of the colour bar.
  EXPECT_EQ(countOf(svg, std::string("fill=\"") + kIdleColour + "\""), 5u);
  EXPECT_NE(svg.find("<title>layer L1 \u00b7 expert 5: 11 tokens</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>layer L0 \u00b7 expert 3: 0 tokens (idle (0))</title>"),
            std::string::npos);
  // The largest cell gets the top of the scale.
  const size_t largest = svg.find("<title>layer L1 \u00b7 expert 5");
  ASSERT_NE(largest, std::string::npos);
  EXPECT_EQ(svg.substr(svg.rfind("fill=\"", largest) + 6, 7),
            scaleColour(ColourScale::Viridis, 1.0));
  EXPECT_NE(svg.find("idle (0)"), std::string::npos);
}

TEST(ChartSvg, LogColourScaleSpreadsTheCoolCells) {
  Chart c = heatmap(1, 3);
  c.heatmap.values = {1, 10, 1000};
  c.heatmap.logScale = true;
  const std::string svg = renderSvg(c);
  EXPECT_EQ(checkMarkup(svg), "");
  EXPECT_NE(svg.find("tokens, log scale"), std::string::npos);
  // log1p(10) / log1p(1000) = 0.347: a third up the scale, not 1% as on a linear one.
  const size_t cell = svg.find("<title>layer L0 \u00b7 expert 1: 10 tokens</title>");
  ASSERT_NE(cell, std::string::npos);
  EXPECT_EQ(svg.substr(svg.rfind("fill=\"", cell) + 6, 7),
            scaleColour(ColourScale::Viridis, std::log1p(10.0) / std::log1p(1000.0)));
  EXPECT_NE(svg.find(">30.6<"), std::string::npos);  // the bar's middle: sqrt(1001) - 1
}

TEST(ChartSvg, FiveHundredTwelveExpertsAreBinnedAndStayLegible) {
  Chart c = heatmap(12, 512);
  const double total = std::accumulate(c.heatmap.values.begin(), c.heatmap.values.end(), 0.0);
  binHeatmapColumns(c, 128);
  EXPECT_EQ(c.heatmap.columns, 128u);
  EXPECT_EQ(c.x.categories.front(), "0-3");
  EXPECT_EQ(c.x.categories.back(), "508-511");
  EXPECT_EQ(c.x.label, "expert (bins of 4, summed)");
  EXPECT_DOUBLE_EQ(std::accumulate(c.heatmap.values.begin(), c.heatmap.values.end(), 0.0), total);
  const std::string svg = renderSvg(c);
  EXPECT_EQ(countOf(svg, "</title></rect>"), 12u * 128u);
  EXPECT_NE(svg.find("<title>layer L0 \u00b7 expert 0-3: "), std::string::npos);
  EXPECT_NE(svg.find("expert (bins of 4, summed)"), std::string::npos);
  // Cells at least 6 px wide: 128 of them need 768 px of plot.
  const size_t at = svg.find("width=\"", svg.find("<svg")) + 7;
  EXPECT_GE(std::stod(svg.substr(at)), 768.0);
}

TEST(ChartSvg, BinningRowsKeepsTheSum) {
  Chart c = heatmap(100, 4);
  binHeatmapRows(c, 50);
  EXPECT_EQ(c.heatmap.rows, 50u);
  EXPECT_EQ(c.y.categories[0], "L0-L1");
  EXPECT_EQ(c.heatmap.at(0, 1), 1.0 + 5.0);
}

TEST(ChartSvg, TextIsEscaped) {
  Chart c = groupedBars();
  c.title = "a < b & \"c\"";
  c.x.categories[0] = "<script>";
  const std::string svg = renderSvg(c);
  EXPECT_EQ(checkMarkup(svg), "");
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_NE(svg.find("a &lt; b &amp; &quot;c&quot;"), std::string::npos);
}

TEST(ChartSvg, LogScaleBarsStartAtTheAxis) {
  Chart c = groupedBars();
  c.y.logScale = true;
  c.series[0].data[0].y = 1200;
  c.series[1].data[2].y = 0.04;
  const std::string svg = renderSvg(c);
  EXPECT_EQ(checkMarkup(svg), "");
  EXPECT_EQ(countOf(svg, "</title></rect>"), 6u);
  EXPECT_NE(svg.find(">0.01<"), std::string::npos);
  EXPECT_NE(svg.find(">10k<"), std::string::npos);
}

TEST(ChartPalette, OkabeItoAndScales) {
  EXPECT_EQ(categoricalColour(0), "#0072b2");
  EXPECT_EQ(categoricalColour(1), "#e69f00");
  EXPECT_EQ(categoricalColour(8), categoricalColour(0));
  EXPECT_EQ(scaleColour(ColourScale::Viridis, 0.0), "#440154");
  EXPECT_EQ(scaleColour(ColourScale::Viridis, 1.0), "#fde725");
  EXPECT_EQ(scaleColour(ColourScale::Viridis, 2.0), "#fde725");
  EXPECT_EQ(scaleColour(ColourScale::Cividis, 0.0), "#00224e");
  EXPECT_NE(scaleColour(ColourScale::Viridis, 0.0), kIdleColour);
}

TEST(ChartScale, TicksAndNumbers) {
  Ticks t = niceTicks(0, 0.93, 6, false);
  EXPECT_DOUBLE_EQ(t.low, 0);
  EXPECT_DOUBLE_EQ(t.high, 1.0);
  EXPECT_EQ(t.values.size(), 6u);
  Ticks log = niceTicks(0.04, 1200, 6, true);
  EXPECT_DOUBLE_EQ(log.low, 0.01);
  EXPECT_DOUBLE_EQ(log.high, 10000);
  EXPECT_EQ(log.values.size(), 7u);
  EXPECT_EQ(formatValue(1234567, 4), "1234567");
  EXPECT_EQ(formatValue(1234567, 4, true), "1.235M");
  EXPECT_EQ(formatValue(0.012345, 3), "0.0123");
  EXPECT_EQ(formatValue(2.5e-5, 2), "2.5e-05");
  EXPECT_EQ(formatValue(std::nan(""), 3), "n/a");
  Scale s(0, 10, 100, 0, false);
  EXPECT_DOUBLE_EQ(s(5), 50);
  Scale l(1, 100, 0, 200, true);
  EXPECT_DOUBLE_EQ(l(10), 100);
}

}  // namespace
}  // namespace moeprof::charts
