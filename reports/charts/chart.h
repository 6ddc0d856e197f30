#pragma once
// A chart as plain data: what is drawn (bars, lines, points, heatmap cells), on which axes with
// which units, and what hovering a mark shows. Report builders fill a Chart from analysis
// results; renderers draw it (svg_renderer.h for reports; the GUI will draw the same
// description with QPainter). Nothing here knows about HTML, Qt or LibTorch.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace moeprof::charts {

// A range around a value, drawn as an error bar: e.g. a 95% confidence interval.
struct Interval {
  double low = 0;
  double high = 0;
};

// How a series is drawn. Bar charts draw Bars; XY charts draw the others.
enum class SeriesStyle { Bars, Line, Points, LinePoints };

// One value of a series. In a bar chart x is the index of the category on the x axis.
struct Datum {
  double x = 0;
  double y = 0;
  std::optional<Interval> interval{};
  std::string tooltip{};  // shown on hover after the exact value; may be empty
};

// A named sequence of values, one legend entry.
struct Series {
  std::string name{};
  SeriesStyle style = SeriesStyle::Bars;
  std::vector<Datum> data{};
  int colour = -1;  // index into the categorical palette; -1: the series' position
  bool dashed = false;
};

// A reference value drawn as a diamond beside the measurement: the paper's figure.
struct Marker {
  double x = 0;     // category index (bar charts) or x value (XY charts)
  int series = -1;  // bar charts: the bar of this series in the category; -1: its centre
  double y = 0;
  std::string label{};  // legend entry shared by markers with the same label, e.g. "paper"
  std::string tooltip{};
};

// A horizontal line across the plot, e.g. perfect balance (1 / devices).
struct ReferenceLine {
  double y = 0;
  std::string label{};
};

// One axis. A bar chart's x axis and both heatmap axes are categorical (categories set).
struct Axis {
  std::string label{};
  std::string unit{};  // shown as "label (unit)"; empty for counts without a unit
  bool logScale = false;
  std::optional<double> min{};
  std::optional<double> max{};
  std::vector<std::string> categories{};
  std::string title() const { return unit.empty() ? label : label + " (" + unit + ")"; }
};

// Sequential colour scales that stay readable for colour-blind readers and in grey.
enum class ColourScale { Viridis, Cividis };

// A matrix of non-negative values, rows along the y axis (categories), columns along the x
// axis. Zero cells are "idle" and drawn in a neutral colour outside the scale when zeroIsIdle.
struct Heatmap {
  size_t rows = 0;
  size_t columns = 0;
  std::vector<double> values{};  // row-major, rows x columns
  ColourScale scale = ColourScale::Viridis;
  std::string valueLabel{};  // what a cell holds, e.g. "tokens"
  std::string valueUnit{};
  bool zeroIsIdle = true;
  std::string idleLabel = "idle (0)";
  std::optional<double> maxValue{};  // top of the colour bar; default: the largest value
  // Colours by log(1 + value) instead of value: skewed loads (a few hot experts) keep the
  // differences between the many cool cells visible. The colour bar says "log scale".
  bool logScale = false;
  double at(size_t row, size_t column) const { return values[row * columns + column]; }
};

enum class ChartKind { Bars, Xy, Heatmap };
enum class BarLayout { Grouped, Stacked };

// The whole description of one chart.
struct Chart {
  ChartKind kind = ChartKind::Bars;
  std::string id{};  // short and file-name safe ("phase-breakdown"), unique within a report
  std::string title{};
  std::string caption{};  // one line under the title: scope, aggregation, what the marker is
  Axis x{};
  Axis y{};
  std::vector<Series> series{};
  BarLayout barLayout = BarLayout::Grouped;
  std::vector<Marker> markers{};
  std::vector<ReferenceLine> referenceLines{};
  Heatmap heatmap{};  // ChartKind::Heatmap only
};

// Sums adjacent heatmap columns into bins so that at most maxColumns remain (E = 512 experts
// as 128 bins of 4). Bin labels become "first-last" of the merged categories and the x axis
// label says "(bins of N, summed)". Nothing changes when the columns already fit.
void binHeatmapColumns(Chart& chart, size_t maxColumns);
// The same for rows (y axis).
void binHeatmapRows(Chart& chart, size_t maxRows);

// The number of marks a renderer draws: bars or points of every series, heatmap cells,
// markers. For tests and for size budgets.
size_t markCount(const Chart& chart);

}  // namespace moeprof::charts
