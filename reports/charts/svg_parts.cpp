#include "reports/charts/svg_parts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "reports/charts/palette.h"

namespace moeprof::charts::svg {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        // Control characters other than tab and newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string num(double value) {
  if (!std::isfinite(value)) return "0";
  const double rounded = std::round(value * 10.0) / 10.0;
  char buffer[32];
  if (rounded == std::floor(rounded)) {
    std::snprintf(buffer, sizeof(buffer), "%.0f", rounded);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.1f", rounded);
  }
  return buffer;
}

namespace {

size_t codePoints(std::string_view text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

double textWidth(std::string_view text, double fontSize) {
  return static_cast<double>(codePoints(text)) * fontSize * 0.56;
}

std::string shorten(const std::string& text, size_t maxChars) {
  if (codePoints(text) <= maxChars) return text;
  size_t kept = 0;
  size_t i = 0;
  for (; i < text.size(); ++i) {
    if ((text[i] & 0xC0) != 0x80 && ++kept > maxChars - 1) break;
  }
  return text.substr(0, i) + "\u2026";
}

std::vector<std::string> wrapText(const std::string& text, double width, double fontSize) {
  std::vector<std::string> lines;
  std::string line;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    const std::string candidate = line.empty() ? word : line + " " + word;
    if (!line.empty() && textWidth(candidate, fontSize) > width) {
      lines.push_back(line);
      line = word;
    } else {
      line = candidate;
    }
    start = end + 1;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

std::string valueText(double value, const std::string& unit) {
  std::string text = formatValue(value, 4);
  if (unit.empty()) return text;
  return unit == "x" || unit == "%" ? text + unit : text + " " + unit;
}

void Writer::open(double width, double height, const SvgOptions& options,
                  const std::string& title) {
  if (options.standalone) {
    out_ +=
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" ";
  } else {
    out_ += "<svg ";
  }
  out_ += "width=\"" + num(width) + "\" height=\"" + num(height) + "\" viewBox=\"0 0 " +
          num(width) + " " + num(height) +
          "\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\" aria-label=\"" +
          escape(title) + "\">\n";
  out_ += "<rect x=\"0\" y=\"0\" width=\"" + num(width) + "\" height=\"" + num(height) +
          "\" fill=\"#ffffff\"/>\n";
}

void Writer::rect(double x, double y, double w, double h, const std::string& fill,
                  const std::string& tooltip, const std::string& extra) {
  out_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" +
          num(h) + "\" fill=\"" + fill + "\"" + extra;
  if (tooltip.empty()) {
    out_ += "/>\n";
  } else {
    out_ += "><title>" + escape(tooltip) + "</title></rect>\n";
  }
}

void Writer::line(double x1, double y1, double x2, double y2, const std::string& stroke,
                  double width, bool dashed) {
  out_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" +
          num(y2) + "\" stroke=\"" + stroke + "\"";
  if (width != 1) out_ += " stroke-width=\"" + num(width) + "\"";
  if (dashed) out_ += " stroke-dasharray=\"6 4\"";
  out_ += "/>\n";
}

void Writer::polyline(const std::vector<std::pair<double, double>>& points,
                      const std::string& stroke, bool dashed, const std::string& tooltip) {
  out_ += "<polyline fill=\"none\" stroke=\"" + stroke + "\" stroke-width=\"2\"";
  if (dashed) out_ += " stroke-dasharray=\"6 4\"";
  out_ += " points=\"";
  for (size_t i = 0; i < points.size(); ++i) {
    if (i) out_ += ' ';
    out_ += num(points[i].first) + "," + num(points[i].second);
  }
  out_ += "\"";
  if (tooltip.empty()) {
    out_ += "/>\n";
  } else {
    out_ += "><title>" + escape(tooltip) + "</title></polyline>\n";
  }
}

void Writer::circle(double cx, double cy, double r, const std::string& fill,
                    const std::string& tooltip) {
  out_ += "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"" + num(r) + "\" fill=\"" +
          fill + "\" stroke=\"#ffffff\"";
  out_ += tooltip.empty() ? "/>\n" : "><title>" + escape(tooltip) + "</title></circle>\n";
}

void Writer::diamond(double cx, double cy, double r, const std::string& fill,
                     const std::string& tooltip) {
  out_ += "<path d=\"M" + num(cx) + " " + num(cy - r) + "L" + num(cx + r) + " " + num(cy) + "L" +
          num(cx) + " " + num(cy + r) + "L" + num(cx - r) + " " + num(cy) + "Z\" fill=\"" + fill +
          "\" stroke=\"#ffffff\" stroke-width=\"1.5\"";
  out_ += tooltip.empty() ? "/>\n" : "><title>" + escape(tooltip) + "</title></path>\n";
}

void Writer::text(double x, double y, std::string_view text, const char* anchor, double fontSize,
                  const std::string& fill, double rotate, bool bold) {
  out_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\"";
  if (std::string_view(anchor) != "start") out_ += " text-anchor=\"" + std::string(anchor) + "\"";
  if (fontSize != kFontSize) out_ += " font-size=\"" + num(fontSize) + "\"";
  if (!fill.empty()) out_ += " fill=\"" + fill + "\"";
  if (bold) out_ += " font-weight=\"bold\"";
  if (rotate != 0) {
    out_ += " transform=\"rotate(" + num(rotate) + " " + num(x) + " " + num(y) + ")\"";
  }
  out_ += ">" + escape(text) + "</text>\n";
}

double headerHeight(const Chart& chart, double width) {
  return 26 + 16 * static_cast<double>(wrapText(chart.caption, width - 20).size());
}

void drawHeader(Writer& w, const Chart& chart, double width) {
  w.text(10, 19, chart.title, "start", kTitleFontSize, "", 0, true);
  double y = 38;
  for (const auto& line : wrapText(chart.caption, width - 20)) {
    w.text(10, y, line, "start", 12, kMutedTextColour);
    y += 16;
  }
}

std::string seriesColour(const Chart& chart, size_t index) {
  const Series& s = chart.series[index];
  return categoricalColour(s.colour >= 0 ? s.colour : static_cast<int>(index));
}

std::vector<LegendEntry> legendEntries(const Chart& chart) {
  std::vector<LegendEntry> entries;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    using K = LegendEntry::Kind;
    K kind = s.style == SeriesStyle::Bars     ? K::Swatch
             : s.style == SeriesStyle::Points ? K::Points
                                              : K::Line;
    entries.push_back({kind, seriesColour(chart, i), s.name, s.dashed});
  }
  std::map<std::string, bool> seen;
  for (const auto& m : chart.markers) {
    if (!m.label.empty() && !seen[m.label]) {
      seen[m.label] = true;
      entries.push_back({LegendEntry::Kind::Diamond, kMarkerColour, m.label, false});
    }
  }
  for (const auto& r : chart.referenceLines) {
    entries.push_back(
        {LegendEntry::Kind::Reference, kAxisColour, r.label + " = " + formatValue(r.y, 3), true});
  }
  return entries;
}

double legendWidth(const std::vector<LegendEntry>& entries) {
  double widest = 0;
  for (const auto& e : entries) {
    widest = std::max(widest, textWidth(shorten(e.label, kMaxLegendChars)));
  }
  return entries.empty() ? 0 : widest + 40;
}

double legendHeight(const std::vector<LegendEntry>& entries) {
  return static_cast<double>(entries.size()) * 18;
}

void drawLegend(Writer& w, const std::vector<LegendEntry>& entries, double x, double y) {
  using K = LegendEntry::Kind;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const double cy = y + 18 * static_cast<double>(i) + 9;
    switch (e.kind) {
      case K::Swatch:
        w.rect(x, cy - 6, 12, 12, e.colour);
        break;
      case K::Points:
        w.circle(x + 7, cy, 4, e.colour, "");
        break;
      case K::Diamond:
        w.diamond(x + 7, cy, 6, e.colour, "");
        break;
      case K::Line:
      case K::Reference:
        w.line(x, cy, x + 18, cy, e.colour, 2, e.dashed);
        break;
    }
    w.text(x + 24, cy + 4, shorten(e.label, kMaxLegendChars));
  }
}

double tickLabelWidth(const Ticks& ticks) {
  double widest = 0;
  for (double v : ticks.values) widest = std::max(widest, textWidth(formatValue(v, 3, true)));
  return widest;
}

void drawYAxisTitle(Writer& w, const Frame& f, const std::string& title) {
  const double cy = f.plotTop + f.plotHeight / 2;
  w.text(14, cy, title, "middle", kFontSize, "", -90);
}

void drawYAxis(Writer& w, const Frame& f, const Scale& scale, const Ticks& ticks,
               const Axis& axis) {
  for (double v : ticks.values) {
    const double y = scale(v);
    w.line(f.plotLeft, y, f.right(), y, kGridColour);
    w.text(f.plotLeft - 6, y + 4, formatValue(v, 3, true), "end", 11, kAxisColour);
  }
  w.line(f.plotLeft, f.plotTop, f.plotLeft, f.bottom(), kAxisColour);
  drawYAxisTitle(w, f, axis.title());
}

void drawXAxis(Writer& w, const Frame& f, const Scale& scale, const Ticks& ticks,
               const Axis& axis) {
  for (double v : ticks.values) {
    const double x = scale(v);
    w.line(x, f.bottom(), x, f.bottom() + 4, kAxisColour);
    w.text(x, f.bottom() + 17, formatValue(v, 3, true), "middle", 11, kAxisColour);
  }
  w.line(f.plotLeft, f.bottom(), f.right(), f.bottom(), kAxisColour);
  w.text(f.plotLeft + f.plotWidth / 2, f.bottom() + 36, axis.title(), "middle");
}

CategoryLabels planCategoryLabels(const std::vector<std::string>& categories, double bandWidth) {
  CategoryLabels plan;
  double widest = 0;
  for (const auto& c : categories) {
    plan.labels.push_back(shorten(c));
    widest = std::max(widest, textWidth(plan.labels.back(), 11));
  }
  if (widest + 6 <= bandWidth) {
    plan.height = 18;
    return plan;
  }
  // Rotated labels need about one line height of band each; thin them out below that.
  plan.rotated = widest > 3 * bandWidth || widest > 40;
  const double needed = plan.rotated ? 16 : widest + 6;
  plan.step =
      std::max<size_t>(1, static_cast<size_t>(std::ceil(needed / std::max(bandWidth, 1e-9))));
  plan.height = plan.rotated ? widest * std::sin(0.7) + 16 : 18;
  return plan;
}

void drawCategoryLabels(Writer& w, const Frame& f, const CategoryLabels& plan,
                        const std::vector<double>& centres, const Axis& axis) {
  for (size_t i = 0; i < plan.labels.size() && i < centres.size(); i += plan.step) {
    if (plan.rotated) {
      w.text(centres[i] + 3, f.bottom() + 12, plan.labels[i], "end", 11, kAxisColour, -40);
    } else {
      w.text(centres[i], f.bottom() + 15, plan.labels[i], "middle", 11, kAxisColour);
    }
  }
  w.line(f.plotLeft, f.bottom(), f.right(), f.bottom(), kAxisColour);
  w.text(f.plotLeft + f.plotWidth / 2, f.bottom() + plan.height + 16, axis.title(), "middle");
}

void drawReferenceLines(Writer& w, const Frame& f, const Chart& chart, const Scale& y) {
  for (const auto& r : chart.referenceLines) {
    const double py = y(r.y);
    w.line(f.plotLeft, py, f.right(), py, kAxisColour, 1.5, true);
  }
}

}  // namespace moeprof::charts::svg
