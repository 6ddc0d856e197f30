// report.md, report.json and the chart files, and writing all of them.
#include <cmath>
#include <map>
#include <set>

#include "collector/atomic_file.h"
#include "reports/charts/svg_renderer.h"
#include "reports/report_writers.h"

namespace moeprof::reports {

namespace {

using nlohmann::json;

std::string chartFile(const charts::Chart& chart) {
  return std::string(kReportChartsDir) + "/" + chart.id + ".svg";
}

// NaN and infinities are not JSON: null.
json number(double value) {
  return std::isfinite(value) ? json(value) : json(nullptr);
}

json axisJson(const charts::Axis& axis) {
  json out = {{"label", axis.label}, {"unit", axis.unit}, {"log_scale", axis.logScale}};
  if (!axis.categories.empty()) out["categories"] = axis.categories;
  if (axis.min) out["min"] = number(*axis.min);
  if (axis.max) out["max"] = number(*axis.max);
  return out;
}

const char* styleName(charts::SeriesStyle style) {
  switch (style) {
    case charts::SeriesStyle::Bars:
      return "bars";
    case charts::SeriesStyle::Line:
      return "line";
    case charts::SeriesStyle::Points:
      return "points";
    case charts::SeriesStyle::LinePoints:
      return "line_points";
  }
  return "bars";
}

json seriesJson(const charts::Series& s) {
  json data = json::array();
  for (const auto& d : s.data) {
    json point = {{"x", number(d.x)}, {"y", number(d.y)}};
    if (d.interval) {
      point["low"] = number(d.interval->low);
      point["high"] = number(d.interval->high);
    }
    if (!d.tooltip.empty()) point["note"] = d.tooltip;
    data.push_back(std::move(point));
  }
  return {{"name", s.name}, {"style", styleName(s.style)}, {"data", std::move(data)}};
}

json blockJson(const ReportBlock& b) {
  switch (b.kind) {
    case ReportBlock::Kind::Paragraph:
      return {{"type", "paragraph"}, {"text", b.text}};
    case ReportBlock::Kind::Note:
      return {{"type", "note"}, {"text", b.text}};
    case ReportBlock::Kind::Table:
      return {{"type", "table"},
              {"caption", b.text},
              {"headers", b.table->headers()},
              {"rows", b.table->rows()}};
    case ReportBlock::Kind::Chart:
      return {{"type", "chart"}, {"chart", chartJson(*b.chart)}};
  }
  return {};
}

}  // namespace

json chartJson(const charts::Chart& chart) {
  static const std::map<charts::ChartKind, const char*> kinds = {
      {charts::ChartKind::Bars, "bars"},
      {charts::ChartKind::Xy, "xy"},
      {charts::ChartKind::Heatmap, "heatmap"}};
  json out = {{"id", chart.id},           {"kind", kinds.at(chart.kind)}, {"title", chart.title},
              {"caption", chart.caption}, {"x", axisJson(chart.x)},       {"y", axisJson(chart.y)}};
  if (chart.kind == charts::ChartKind::Heatmap) {
    const auto& h = chart.heatmap;
    json values = json::array();
    for (size_t r = 0; r < h.rows; ++r) {
      json row = json::array();
      for (size_t c = 0; c < h.columns; ++c) row.push_back(number(h.at(r, c)));
      values.push_back(std::move(row));
    }
    out["heatmap"] = {{"rows", h.rows},
                      {"columns", h.columns},
                      {"value_label", h.valueLabel},
                      {"value_unit", h.valueUnit},
                      {"values", std::move(values)}};
    return out;
  }
  if (chart.kind == charts::ChartKind::Bars) {
    out["layout"] = chart.barLayout == charts::BarLayout::Stacked ? "stacked" : "grouped";
  }
  out["series"] = json::array();
  for (const auto& s : chart.series) out["series"].push_back(seriesJson(s));
  out["markers"] = json::array();
  for (const auto& m : chart.markers) {
    out["markers"].push_back(
        {{"x", number(m.x)}, {"y", number(m.y)}, {"label", m.label}, {"note", m.tooltip}});
  }
  out["reference_lines"] = json::array();
  for (const auto& r : chart.referenceLines) {
    out["reference_lines"].push_back({{"y", number(r.y)}, {"label", r.label}});
  }
  return out;
}

json reportJson(const ReportDocument& document) {
  json sections = json::array();
  for (const auto& s : document.sections) {
    json blocks = json::array();
    for (const auto& b : s.blocks) blocks.push_back(blockJson(b));
    sections.push_back(
        {{"title", s.title}, {"anchor", s.anchor}, {"level", s.level}, {"blocks", blocks}});
  }
  return {{"format", kReportFormat},        {"schema_version", kReportSchemaVersion},
          {"title", document.title},        {"tool", document.tool},
          {"inputs", document.inputs},      {"warnings", document.warnings},
          {"sections", std::move(sections)}};
}

std::string reportMarkdown(const ReportDocument& document) {
  std::string md = "# " + document.title + "\n\nInputs: ";
  for (size_t i = 0; i < document.inputs.size(); ++i) {
    md += (i ? ", `" : "`") + document.inputs[i] + "`";
  }
  md += "\n\n";
  for (const auto& w : document.warnings) md += "> **Warning:** " + w + "\n\n";
  for (const auto& s : document.sections) {
    md += std::string(static_cast<size_t>(s.level), '#') + " " + s.title + "\n\n";
    for (const auto& b : s.blocks) {
      switch (b.kind) {
        case ReportBlock::Kind::Paragraph:
          md += b.text + "\n\n";
          break;
        case ReportBlock::Kind::Note:
          md += "> " + b.text + "\n\n";
          break;
        case ReportBlock::Kind::Table:
          if (!b.text.empty()) md += "*" + b.text + "*\n\n";
          md += b.table->toMarkdown() + "\n";
          break;
        case ReportBlock::Kind::Chart:
          md += "![" + b.chart->title + "](" + chartFile(*b.chart) + ")\n\n";
          break;
      }
    }
  }
  md += "---\nWritten by " + document.tool +
        " (moeprof report); report.json holds every number "
        "shown, report.html the same with the charts inline.\n";
  return md;
}

std::vector<std::pair<std::string, std::string>> chartSvgFiles(const ReportDocument& document) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const charts::Chart* chart : document.charts()) {
    files.emplace_back(chartFile(*chart), charts::renderSvg(*chart));
  }
  return files;
}

std::vector<std::filesystem::path> writeReport(const ReportDocument& document,
                                               const std::filesystem::path& dir) {
  // Everything is rendered before the first file is written.
  const std::string html = reportHtml(document);
  const std::string markdown = reportMarkdown(document);
  const std::string json = reportJson(document).dump(1) + "\n";
  const auto svgs = chartSvgFiles(document);
  std::filesystem::create_directories(dir / kReportChartsDir);
  std::vector<std::filesystem::path> written = {dir / "report.html", dir / "report.md",
                                                dir / "report.json"};
  collector::writeFileAtomically(written[0], html);
  collector::writeFileAtomically(written[1], markdown);
  collector::writeFileAtomically(written[2], json);
  std::set<std::filesystem::path> charts;
  for (const auto& [name, svg] : svgs) {
    written.push_back(dir / name);
    charts.insert(written.back());
    collector::writeFileAtomically(written.back(), svg);
  }
  // Charts of an earlier report in the same directory that this one no longer has.
  for (const auto& entry : std::filesystem::directory_iterator(dir / kReportChartsDir)) {
    if (entry.path().extension() == ".svg" && !charts.count(entry.path())) {
      std::filesystem::remove(entry.path());
    }
  }
  return written;
}

}  // namespace moeprof::reports
