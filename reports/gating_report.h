#pragma once
// Tables and documents of the gating study: the sweep table (one row per run phase), the phase
// breakdown, and the paper-reproduction table that puts each measured figure beside the paper's.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/gating_study.h"
#include "reports/reproduction_report.h"
#include "reports/table.h"

namespace moeprof::reports {

// preset | phase | batch | gating | tokens/s | p50 ms | p90 ms | peak activation | waste |
// dropped | vs static
Table sweepTable(const std::vector<analysis::PhasePoint>& points);

// Mean milliseconds per unit (batch or decoding step) in each phase.
Table phaseBreakdownTable(const std::vector<analysis::PhasePoint>& points);

// The gating study's rows of "Measured beside the paper" (reports/reproduction_report.h).
Table reproductionTable(const std::vector<analysis::PhasePoint>& points);

// The gating study's rows followed by those of `extras` (routing, then deployment).
std::vector<ReproductionRow> allRows(const std::vector<analysis::PhasePoint>& points,
                                     const ReproductionExtras& extras);

// Where the deployment study's paper figures come from, and on what the papers measured them.
std::string deploymentSourcesText();

// A Markdown document with all three tables, for CI summaries and the run folder.
std::string gatingReportMarkdown(const std::string& title,
                                 const std::vector<analysis::PhasePoint>& points,
                                 const ReproductionExtras& extras = {});

// The same content as JSON: every point, every gain and gap, with the paper's figures.
// "reproduction" holds every row of "Measured beside the paper" with its verdict, "provenance"
// what reproduce's trained models were built from (when it trained any).
nlohmann::json gatingReportJson(const std::vector<analysis::PhasePoint>& points,
                                const ReproductionExtras& extras = {});

}  // namespace moeprof::reports
