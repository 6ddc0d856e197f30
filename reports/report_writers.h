#pragma once
// A report document (report_document.h) written three ways: one self-contained HTML file
// (inline SVG and CSS, no script, nothing fetched: it opens from file:// and as a CI artifact),
// Markdown with GitHub tables and the charts as SVG files beside it (for CI logs and pull
// requests), and JSON with every number shown (schema "moeprof-report", version 1).
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/report_document.h"

namespace moeprof::reports {

inline constexpr const char* kReportFormat = "moeprof-report";
inline constexpr int kReportSchemaVersion = 1;
inline constexpr const char* kReportChartsDir = "report-charts";  // beside report.md

std::string reportHtml(const ReportDocument& document);
// Charts as images "report-charts/<id>.svg" (chartSvgFiles writes them).
std::string reportMarkdown(const ReportDocument& document);
nlohmann::json reportJson(const ReportDocument& document);
// A chart description as JSON: its axes, every value, interval, marker and heatmap cell.
nlohmann::json chartJson(const charts::Chart& chart);

// The standalone SVG of every chart: (file name relative to the report directory, contents).
std::vector<std::pair<std::string, std::string>> chartSvgFiles(const ReportDocument& document);

// Writes report.html, report.md, report.json and the chart files into `dir` (created when
// missing), each file atomically, and removes chart files an earlier report left there;
// returns the paths written, report.html first.
std::vector<std::filesystem::path> writeReport(const ReportDocument& document,
                                               const std::filesystem::path& dir);

}  // namespace moeprof::reports
