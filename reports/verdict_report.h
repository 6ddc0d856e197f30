#pragma once
// Renders a statistical comparison (analysis::Comparison: verdicts per metric) for a terminal,
// as the Markdown summary CI logs and pull requests show, and as JSON for scripts.
// `moeprof compare` prints these; reports against a baseline reuse them.
#include <string>

#include "analysis/statistical_comparison.h"
#include "reports/report_document.h"
#include "reports/table.h"

namespace moeprof::reports {

// Columns: metric | A | B | B/A | 95% CI | p (Holm) | verdict | note. Every metric, ignored
// ones with "-" as verdict. Timed metrics show medians of their samples.
Table verdictTable(const analysis::Comparison& comparison);

// The terminal report: what was compared with what, the rules, the configuration differences,
// the table, warnings and a last line with the overall verdict.
std::string verdictText(const analysis::Comparison& comparison);

// The CI summary: a heading with the overall verdict, the counts, a table of what needs a look
// (regressions, improvements, unknowns, deterministic changes) and every compared metric in a
// collapsed <details> block. Ignored metrics are counted, not listed.
std::string verdictMarkdown(const analysis::Comparison& comparison);

// A section of `moeprof report --baseline`: the overall verdict and counts, the method, the
// configuration differences, what needs a look (as verdictMarkdown) and every compared metric.
void addVerdictSection(ReportDocument& document, const analysis::Comparison& comparison);

// Everything in the comparison, schema-versioned, 2-space indent, ending in a newline.
std::string verdictJson(const analysis::Comparison& comparison);

}  // namespace moeprof::reports
