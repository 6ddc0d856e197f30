#pragma once
// Renders an A/B run comparison (analysis::RunComparison) as tables for terminals and Markdown,
// and as JSON for scripts. `moeprof compare` prints these.
#include <string>

#include "analysis/run_comparison.h"
#include "reports/table.h"

namespace moeprof::reports {

// Columns: metric | <labelA> | <labelB> | B/A. A value a run lacks, or a ratio that does not
// exist (a missing side, A == 0), shows as "-". Numbers keep four significant digits.
Table comparisonTable(const analysis::RunComparison& comparison);

// Columns: config key | <labelA> | <labelB>, values as JSON text, "-" where a run lacks the key.
Table configDifferencesTable(const analysis::RunComparison& comparison);

// {"label_a", "label_b", "metrics": [{"key", "a", "b", "ratio"}], "config_differences":
// [{"key", "a", "b"}]}; absent values are null, config values are JSON values (not text).
// Pretty-printed with a 2-space indent, ending in a newline.
std::string comparisonJson(const analysis::RunComparison& comparison);

}  // namespace moeprof::reports
