#pragma once
// The options `moeprof compare` and `moeprof report --baseline` share, and the comparison they
// both make with them (analysis/statistical_comparison.h; docs/comparisons.md).
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "analysis/statistical_comparison.h"

namespace moeprof::cli {

struct ComparisonFlags {
  std::string thresholds;
  std::optional<double> alpha;
  bool allowDifferentWorkloads = false;

  // --thresholds, --alpha, --allow-different-workloads.
  void add(CLI::App& app);
  // The rules to judge with: the thresholds file and --alpha. Throws InputError on a bad file
  // or an alpha outside (0, 1).
  analysis::ComparisonRules rules() const;
  // A (the baseline) against B, each a run, a directory of runs or (A) a baseline file, judged
  // by rules(). Throws InputError on bad rules (before any run is read), unreadable input and,
  // unless allowed, different workloads.
  analysis::Comparison compare(const std::string& a, const std::string& b) const;
};

}  // namespace moeprof::cli
