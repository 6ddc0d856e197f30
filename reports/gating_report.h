#pragma once
// Tables and documents of the gating study: the sweep table (one row per run phase), the phase
// breakdown, and the paper-reproduction table that puts each measured figure beside the paper's.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/gating_study.h"
#include "reports/table.h"

namespace moeprof::reports {

// preset | phase | batch | gating | tokens/s | p50 ms | p90 ms | peak activation | waste |
// dropped | vs static
Table sweepTable(const std::vector<analysis::PhasePoint>& points);

// Mean milliseconds per unit (batch or decoding step) in each phase.
Table phaseBreakdownTable(const std::vector<analysis::PhasePoint>& points);

// finding | scope | measured | paper
Table reproductionTable(const std::vector<analysis::PhasePoint>& points);

// A Markdown document with all three tables, for CI summaries and the run folder.
std::string gatingReportMarkdown(const std::string& title,
                                 const std::vector<analysis::PhasePoint>& points);

// The same content as JSON: every point, every gain and gap, with the paper's figures.
nlohmann::json gatingReportJson(const std::vector<analysis::PhasePoint>& points);

}  // namespace moeprof::reports
