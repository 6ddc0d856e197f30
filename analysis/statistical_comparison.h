#pragma once
// The comparison of two runs, two sets of runs matched by name, or a baseline and a set of
// runs: a verdict per metric (timed metrics on their samples, deterministic ones exactly or
// within a tolerance, the thresholds file deciding which is which), Holm's adjustment across
// the timed metrics, and the configuration differences. `moeprof compare`, reports against a
// baseline and the CI gate all call compareSets; the result holds no formatting.
#include <optional>
#include <string>
#include <vector>

#include "analysis/comparison_inputs.h"
#include "analysis/comparison_rules.h"
#include "analysis/run_comparison.h"
#include "analysis/statistics.h"

namespace moeprof::analysis {

// One metric of the comparison. In a set of runs the key is "RUN/METRIC".
struct MetricResult {
  std::string key;
  MetricKind kind = MetricKind::Ignore;
  Better better = Better::Lower;
  std::optional<double> a, b;   // the value, or the median of the samples
  std::optional<double> ratio;  // b / a when both exist and a != 0
  // Timed metrics with samples on both sides.
  int samplesA = 0, samplesB = 0;
  std::optional<RatioInterval> interval;
  std::optional<double> pValue, adjustedP;
  bool exactTest = false;
  double threshold = 0;              // timed
  Tolerance tolerance;               // exact
  std::optional<Verdict> verdict;    // none for ignored metrics and metrics only one side has
  bool changed = false;              // exact: the values differ at all (even within tolerance)
  std::optional<int> repeatsNeeded;  // unknown timed verdicts: --repeats that would decide it
  std::string note;                  // why unknown, how much changed, why ignored
};

// A configuration key whose value differs, and whether it defines the workload (so that the
// runs measure different work) or is an option being compared (gating, buffering, threads).
struct ConfigChange {
  ConfigDifference difference;  // key prefixed "RUN/" in a set of runs
  bool workload = false;
};

// The whole comparison of A (the baseline) with B.
struct Comparison {
  std::string labelA, labelB;
  SetKind kindA = SetKind::Run, kindB = SetKind::Run;
  std::string rulesSource;
  double alpha = 0.01;
  double confidence = 0.95;
  std::string multiplicity = "holm";
  int familySize = 0;  // timed metrics tested together (Holm's m)
  std::vector<ConfigChange> configChanges;
  std::vector<std::string> onlyInA, onlyInB;  // run names without a match
  std::vector<MetricResult> metrics;
  std::vector<std::string> warnings;

  bool regressed() const;
  int count(Verdict verdict) const;
  // "RUN/key (a -> b)" lines of the workload-defining differences; empty when there are none.
  std::vector<std::string> workloadDifferences() const;
};

// Keys of run.json's config that define the work a run does: runs that differ in one of them
// measure different things. Every other key is an option under comparison.
bool isWorkloadKey(const std::string& configKey);

Comparison compareSets(const ComparableSet& a, const ComparableSet& b,
                       const ComparisonRules& rules);

// Throws InputError listing the workload-defining differences, unless there are none.
void requireSameWorkloads(const Comparison& comparison);

}  // namespace moeprof::analysis
