#pragma once
// Internal to the SVG renderer: an SVG text writer, the frame of a chart (where the plot, the
// axes and the legend go) and the pieces every chart kind shares (title, legend, axes).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reports/charts/chart.h"
#include "reports/charts/scale.h"
#include "reports/charts/svg_renderer.h"

namespace moeprof::charts::svg {

inline constexpr double kFontSize = 12;
inline constexpr double kTitleFontSize = 15;
inline constexpr size_t kMaxLabelChars = 28;  // longer category labels are shortened

// XML text and attribute escaping (&, <, >, ").
std::string escape(std::string_view text);
// A coordinate: an integer when whole, else one decimal.
std::string num(double value);
// An estimate of the width of `text` in px (sans-serif averages about 0.6 em per character).
double textWidth(std::string_view text, double fontSize = kFontSize);
inline constexpr size_t kMaxLegendChars = 48;
// `text` cut to maxChars characters with an ellipsis (UTF-8 aware).
std::string shorten(const std::string& text, size_t maxChars = kMaxLabelChars);
// `text` broken at spaces into lines no wider than `width` px (a longer word stays whole).
std::vector<std::string> wrapText(const std::string& text, double width,
                                  double fontSize = kFontSize);
// The exact value of a mark for its tooltip: "12.5 ms".
std::string valueText(double value, const std::string& unit);

class Writer {
 public:
  void open(double width, double height, const SvgOptions& options, const std::string& title);
  void close() { out_ += "</svg>\n"; }
  // A mark with a hover text; `extra` adds raw attributes (e.g. a stroke).
  void rect(double x, double y, double w, double h, const std::string& fill,
            const std::string& tooltip = "", const std::string& extra = "");
  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double width = 1,
            bool dashed = false);
  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke,
                bool dashed, const std::string& tooltip);
  void circle(double cx, double cy, double r, const std::string& fill, const std::string& tooltip);
  void diamond(double cx, double cy, double r, const std::string& fill, const std::string& tooltip);
  // anchor: "start", "middle" or "end"; rotate: degrees around (x, y).
  void text(double x, double y, std::string_view text, const char* anchor = "start",
            double fontSize = kFontSize, const std::string& fill = "", double rotate = 0,
            bool bold = false);
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Where things go: the whole SVG and the plot area inside it.
struct Frame {
  double width = 0;
  double height = 0;
  double plotLeft = 0;
  double plotTop = 0;
  double plotWidth = 0;
  double plotHeight = 0;
  double right() const { return plotLeft + plotWidth; }
  double bottom() const { return plotTop + plotHeight; }
};

// Title and caption (wrapped to `width`): their height, and drawing them.
double headerHeight(const Chart& chart, double width);
void drawHeader(Writer& w, const Chart& chart, double width);

// One legend row: a series, a marker label or a reference line.
struct LegendEntry {
  enum class Kind { Swatch, Line, Points, Diamond, Reference } kind = Kind::Swatch;
  std::string colour;
  std::string label;
  bool dashed = false;
};
std::vector<LegendEntry> legendEntries(const Chart& chart);
double legendWidth(const std::vector<LegendEntry>& entries);
double legendHeight(const std::vector<LegendEntry>& entries);
void drawLegend(Writer& w, const std::vector<LegendEntry>& entries, double x, double y);

// The colour of a series (its own index or its position).
std::string seriesColour(const Chart& chart, size_t index);

double tickLabelWidth(const Ticks& ticks);
// A vertical value axis at the plot's left, with grid lines and its title.
void drawYAxis(Writer& w, const Frame& f, const Scale& scale, const Ticks& ticks, const Axis& axis);
// A horizontal value axis under the plot, with its title.
void drawXAxis(Writer& w, const Frame& f, const Scale& scale, const Ticks& ticks, const Axis& axis);

// How category labels under a plot fit: every `step`-th label, rotated when too wide.
struct CategoryLabels {
  std::vector<std::string> labels;  // shortened
  size_t step = 1;
  bool rotated = false;
  double height = 0;  // below the plot, without the axis title
};
CategoryLabels planCategoryLabels(const std::vector<std::string>& categories, double bandWidth);
void drawCategoryLabels(Writer& w, const Frame& f, const CategoryLabels& plan,
                        const std::vector<double>& centres, const Axis& axis);
void drawYAxisTitle(Writer& w, const Frame& f, const std::string& title);

void drawReferenceLines(Writer& w, const Frame& f, const Chart& chart, const Scale& y);

// The three kinds (svg_bars.cpp, svg_xy.cpp, svg_heatmap.cpp).
std::string renderBars(const Chart& chart, const SvgOptions& options);
std::string renderXy(const Chart& chart, const SvgOptions& options);
std::string renderHeatmap(const Chart& chart, const SvgOptions& options);

}  // namespace moeprof::charts::svg
