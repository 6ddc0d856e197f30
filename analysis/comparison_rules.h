#pragma once
// How each metric is compared: the thresholds file (analysis/thresholds.json, compiled in;
// `compare --thresholds FILE` reads another). Rules match metric names by pattern and the most
// specific match wins; the file also holds alpha, the confidence level and the bootstrap's
// resamples and seed. The format is in docs/comparisons.md.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/statistics.h"

namespace moeprof::analysis {

// timed: compared on per-unit samples with the rank test and the bootstrap interval;
// exact: a deterministic count or size, equal within a tolerance or changed;
// ignore: shown, with the ratio, but not part of the verdict.
enum class MetricKind { Timed, Exact, Ignore };
const char* metricKindName(MetricKind kind);  // "timed", "exact", "ignore"

// One rule of the thresholds file.
struct MetricRule {
  std::string pattern;  // `*` matches any run of characters, dots and slashes included
  MetricKind kind = MetricKind::Ignore;
  Better better = Better::Lower;
  double threshold = 0.1;  // timed: B/A within [1 / (1 + t), 1 + t] is `same`
  Tolerance tolerance;     // exact: what still counts as equal
  std::string why;         // one line, shown beside the metric (e.g. why it is ignored)
};

// Everything a comparison needs to know besides the runs.
struct ComparisonRules {
  std::string source;  // the file the rules came from, for messages
  double alpha = 0.01;
  BootstrapOptions bootstrap;
  int minSamples = 9;  // fewer samples on a side than this: a warning
  std::vector<MetricRule> rules;

  // The rule for a metric name ("forward.latency_ms", or "RUN/forward.latency_ms" in a set of
  // runs): the matching pattern with the most literal (non-`*`) characters, the later one on a
  // tie. A pattern without `/` is matched against the part after the run name. No match: an
  // `ignore` rule saying so.
  MetricRule ruleFor(const std::string& metric) const;
};

// `*` globbing over the whole text.
bool globMatch(std::string_view pattern, std::string_view text);

// Throws InputError naming `source` and the bad field when the file is not a thresholds file
// of schema_version 1 or a field has a value that is not allowed.
ComparisonRules parseComparisonRules(const nlohmann::json& file, const std::string& source);
ComparisonRules readComparisonRules(const std::filesystem::path& path);

// The rules shipped with moeprof (analysis/thresholds.json, compiled in).
const ComparisonRules& shippedComparisonRules();

}  // namespace moeprof::analysis
