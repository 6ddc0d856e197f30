// report.html: one file with its CSS and its charts inline, written so that it also parses as
// XML (every element closed, text escaped), which the tests check. No script, no font, no image
// and no link leaves the file.
#include <string>

#include "reports/charts/svg_parts.h"
#include "reports/charts/svg_renderer.h"
#include "reports/report_writers.h"

namespace moeprof::reports {

namespace {

constexpr const char* kStyle = R"css(
body{font-family:system-ui,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;color:#1a1a1a;
 max-width:1200px;margin:0 auto;padding:12px 24px 40px;line-height:1.45}
h1{font-size:1.6em;margin:.4em 0 .2em}
h2{font-size:1.3em;border-bottom:1px solid #d0d0d0;padding-bottom:3px;margin-top:2em}
h3{font-size:1.1em;margin-top:1.6em}
.meta{color:#555;font-size:.92em;margin:.2em 0}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.92em}
nav{background:#f6f6f6;padding:6px 14px;border-radius:4px;margin:12px 0}
nav ol{margin:4px 0;padding-left:20px;columns:2}
nav a{color:#0060a0;text-decoration:none}
.warning,.note{background:#fff5dc;border-left:4px solid #e69f00;padding:6px 10px;margin:8px 0}
.warning{background:#fde8e0;border-left-color:#d55e00}
figure{margin:14px 0}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #d9d9d9;padding:3px 8px;vertical-align:top;max-width:40em}
th{background:#f0f0f0;text-align:left}
.r{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even) td{background:#fafafa}
caption{caption-side:top;text-align:left;color:#555;padding:2px 0}
footer{margin-top:3em;color:#666;font-size:.88em;border-top:1px solid #ddd;padding-top:6px}
)css";

using charts::svg::escape;  // HTML text and attributes escape as SVG's do

void appendTable(std::string& html, const Table& table, const std::string& caption) {
  html += "<div class=\"scroll\"><table>";
  if (!caption.empty()) html += "<caption>" + escape(caption) + "</caption>";
  auto cls = [&](size_t column) {
    return column < table.alignments().size() && table.alignments()[column] == Align::Right
               ? " class=\"r\""
               : "";
  };
  html += "<thead><tr>";
  for (size_t c = 0; c < table.numColumns(); ++c) {
    html += std::string("<th") + cls(c) + ">" + escape(table.headers()[c]) + "</th>";
  }
  html += "</tr></thead>\n<tbody>\n";
  for (const auto& row : table.rows()) {
    html += "<tr>";
    for (size_t c = 0; c < row.size(); ++c) {
      html += std::string("<td") + cls(c) + ">" + escape(row[c]) + "</td>";
    }
    html += "</tr>\n";
  }
  html += "</tbody></table></div>\n";
}

void appendBlock(std::string& html, const ReportBlock& block) {
  switch (block.kind) {
    case ReportBlock::Kind::Paragraph:
      html += "<p>" + escape(block.text) + "</p>\n";
      break;
    case ReportBlock::Kind::Note:
      html += "<p class=\"note\">" + escape(block.text) + "</p>\n";
      break;
    case ReportBlock::Kind::Table:
      appendTable(html, *block.table, block.text);
      break;
    case ReportBlock::Kind::Chart: {
      charts::SvgOptions options;
      options.standalone = false;
      html += "<figure id=\"chart-" + escape(block.chart->id) + "\"><div class=\"scroll\">\n" +
              charts::renderSvg(*block.chart, options) + "</div></figure>\n";
      break;
    }
  }
}

void appendContents(std::string& html, const ReportDocument& document) {
  html += "<nav><strong>Contents</strong><ol>";
  for (const auto& s : document.sections) {
    if (s.level > 2) continue;
    html += "<li><a href=\"#" + escape(s.anchor) + "\">" + escape(s.title) + "</a></li>";
  }
  html += "</ol></nav>\n";
}

}  // namespace

std::string reportHtml(const ReportDocument& document) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>" +
      escape(document.title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  html += "<h1>" + escape(document.title) + "</h1>\n<p class=\"meta\">Inputs: ";
  for (size_t i = 0; i < document.inputs.size(); ++i) {
    html += (i ? ", " : "") + std::string("<code>") + escape(document.inputs[i]) + "</code>";
  }
  html += "</p>\n";
  for (const auto& w : document.warnings) html += "<p class=\"warning\">" + escape(w) + "</p>\n";
  appendContents(html, document);
  for (const auto& s : document.sections) {
    const std::string h = "h" + std::to_string(s.level);
    html += "<section id=\"" + escape(s.anchor) + "\">\n<" + h + ">" + escape(s.title) + "</" + h +
            ">\n";
    for (const auto& b : s.blocks) appendBlock(html, b);
    html += "</section>\n";
  }
  html += "<footer>Written by " + escape(document.tool) +
          " (moeprof report). Hover a bar, point or cell for its exact value; report.json "
          "holds every number shown.</footer>\n</body>\n</html>\n";
  return html;
}

}  // namespace moeprof::reports
