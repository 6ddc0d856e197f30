#include "cli/comparison_flags.h"

#include "analysis/comparison_inputs.h"
#include "collector/errors.h"

namespace moeprof::cli {

void ComparisonFlags::add(CLI::App& app) {
  app.add_option("--thresholds", thresholds,
                 "thresholds file (default: the shipped analysis/thresholds.json)");
  app.add_option("--alpha", alpha,
                 "significance level after Holm's adjustment (default: the thresholds file's)");
  app.add_flag("--allow-different-workloads", allowDifferentWorkloads,
               "compare runs whose workload-defining configuration differs (preset, batch, "
               "seed, ...), which otherwise exits 2");
}

analysis::ComparisonRules ComparisonFlags::rules() const {
  analysis::ComparisonRules rules = thresholds.empty() ? analysis::shippedComparisonRules()
                                                       : analysis::readComparisonRules(thresholds);
  if (alpha) {
    if (!(*alpha > 0 && *alpha < 1)) {
      throw InputError("--alpha " + std::to_string(*alpha) + " must be between 0 and 1");
    }
    rules.alpha = *alpha;
  }
  return rules;
}

analysis::Comparison ComparisonFlags::compare(const std::string& a, const std::string& b) const {
  const auto judging = rules();
  const auto setA = analysis::loadComparable(a);  // A first: its errors are reported first
  const auto setB = analysis::loadComparable(b);
  auto comparison = analysis::compareSets(setA, setB, judging);
  if (!allowDifferentWorkloads) analysis::requireSameWorkloads(comparison);
  return comparison;
}

}  // namespace moeprof::cli
