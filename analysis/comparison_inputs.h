#pragma once
// What a comparison compares: one run directory, a directory of runs (a sweep, a `reproduce`
// directory) matched by name, or a baseline file (reports/baselines/), each read into the same
// plain form: per run its configuration, its metrics (one value, and per-unit samples where the
// run kept them) and its routing counts; per set the ratios measured side by side in it
// (dynamic/static, MoE/dense). A baseline keeps only what survives a change of machine.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/comparison_rules.h"

namespace moeprof::analysis {

// One metric of one run: its value (for sampled metrics, the median of the samples) and, for
// timed metrics, the samples per unit (a batch or a decoding step).
struct MetricValues {
  std::optional<double> value;
  std::optional<std::vector<double>> samples;
  double unitsPerRepeat = 1;  // samples per measured batch (decoding steps per batch)
};

// One run as a comparison sees it.
struct ComparableRun {
  std::string name;  // the run directory's name (relative path within a set)
  bool complete = true;
  nlohmann::json config = nlohmann::json::object();
  std::map<std::string, MetricValues> metrics;  // "forward.latency_ms", "forward.waste_factor"
  // Token-expert assignments per MoE layer and expert over the whole run, dropped ones
  // included; empty when the run has no routing log.
  std::vector<std::vector<int64_t>> routingCounts;
};

// Where a comparable set came from.
enum class SetKind { Run, RunSet, Baseline };
const char* setKindName(SetKind kind);  // "run", "run set", "baseline"

// A run, a set of runs, or a baseline.
struct ComparableSet {
  std::string label;  // the path as given
  SetKind kind = SetKind::Run;
  std::vector<ComparableRun> runs;
  // Ratios measured side by side within the set, with samples: "RUN/PHASE.speedup_vs_static"
  // (a dynamic-gating run against its static twin) and "RUN/PHASE.latency_vs_dense" (a static
  // MoE run against its dense counterpart).
  std::map<std::string, MetricValues> ratios;
  std::string createdBy;  // baselines: the command that wrote them
};

// Reads a run directory (or its run.json), a directory whose subdirectories (to depth 3) are
// runs, or a baseline file. Throws InputError naming the path when it is none of these, or when
// a file in it is corrupt (a routing log cut short by an interrupted run is skipped instead).
ComparableSet loadComparable(const std::filesystem::path& path);

// The run as the comparison needs it, from its manifest (and routing log, when given).
ComparableRun comparableRun(const std::string& name, const nlohmann::json& config,
                            const nlohmann::json& metrics, bool complete);

// The side-by-side ratios of a set of runs (ComparableSet::ratios).
std::map<std::string, MetricValues> sideBySideRatios(const std::vector<ComparableRun>& runs);

// The baseline of a set of runs: per run the configuration, the metrics the rules compare
// exactly and the routing counts; the side-by-side ratios with their samples. No absolute
// times. Written with one line per list of numbers, so that a refresh diffs line by line.
std::string baselineText(const ComparableSet& set, const ComparisonRules& rules,
                         const std::string& createdBy);
ComparableSet parseBaseline(const nlohmann::json& file, const std::string& label);

}  // namespace moeprof::analysis
