#pragma once
// Internal to the report builder: the sections of one run (report_run_sections.cpp) and of one
// trace (report_trace_sections.cpp), shared by single-run, sweep and trace reports.
#include <filesystem>
#include <string>

#include "reports/report_builder.h"

namespace moeprof::reports::detail {

// Configuration, status and metrics of a run, with its phase and memory charts.
void addRunOverview(ReportDocument& document, const RunInput& run);
// Which routing charts a run gets: a sweep's static and dynamic runs of one model route alike
// (same weights, same tokens), so the static one shows only what differs, its padding and drops.
enum class RoutingCharts { All, CapacityOnly };
// Statistics, heatmaps, capacity (static gating), miss rates and placement of a run's routing
// log, in a section of the given level.
void addRoutingDetails(ReportDocument& document, const RunInput& run, int level = 3,
                       RoutingCharts which = RoutingCharts::All);
// Expert Buffering and expert-parallel metrics of run.json, when the run has them.
void addBufferingAndRanks(ReportDocument& document, const RunInput& run);
// Every rank's trace of a run directory, or one trace file: tables, memory timeline, events.
void addTraceSection(ReportDocument& document, const std::filesystem::path& runOrFile,
                     const std::string& title);

}  // namespace moeprof::reports::detail
