#include <iostream>
#include <memory>

#include "analysis/comparison_inputs.h"
#include "analysis/comparison_rules.h"
#include "analysis/statistical_comparison.h"
#include "cli/app.h"
#include "cli/run_status_note.h"
#include "collector/errors.h"
#include "reports/verdict_report.h"

namespace moeprof::cli {

namespace {

// A against B with a verdict per metric (docs/comparisons.md); exit 3 on a regression.
struct CompareCommand {
  std::string runA, runB;
  bool json = false;
  bool markdown = false;
  std::string thresholds;
  std::optional<double> alpha;
  bool allowDifferentWorkloads = false;

  analysis::ComparisonRules rules() const {
    analysis::ComparisonRules rules = thresholds.empty()
                                          ? analysis::shippedComparisonRules()
                                          : analysis::readComparisonRules(thresholds);
    if (alpha) {
      if (!(*alpha > 0 && *alpha < 1)) {
        throw InputError("--alpha " + std::to_string(*alpha) + " must be between 0 and 1");
      }
      rules.alpha = *alpha;
    }
    return rules;
  }

  int execute() const {
    if (json && markdown) throw InputError("--json and --markdown: choose one");
    const auto rulesToUse = rules();  // a bad thresholds file fails before the runs are read
    auto a = analysis::loadComparable(runA);
    auto b = analysis::loadComparable(runB);
    auto comparison = analysis::compareSets(a, b, rulesToUse);
    if (!allowDifferentWorkloads) analysis::requireSameWorkloads(comparison);
    std::cerr << runStatusNote(runA) << runStatusNote(runB);
    if (json) {
      std::cout << reports::verdictJson(comparison);
    } else if (markdown) {
      std::cout << reports::verdictMarkdown(comparison);
    } else {
      std::cout << reports::verdictText(comparison);
    }
    return comparison.regressed() ? kExitRegression : kExitOk;
  }
};

}  // namespace

Action addCompareCommand(CLI::App& app) {
  auto command = std::make_shared<CompareCommand>();
  app.add_option("A", command->runA,
                 "the baseline: a run directory, a directory of runs (sweep, reproduce) or a "
                 "baseline file (moeprof baseline)")
      ->required();
  app.add_option("B", command->runB, "what is compared with A: a run or a directory of runs")
      ->required();
  app.add_flag("--json", command->json, "print JSON instead of tables");
  app.add_flag("--markdown", command->markdown, "print the Markdown summary (CI logs)");
  app.add_option("--thresholds", command->thresholds,
                 "thresholds file (default: the shipped analysis/thresholds.json)");
  app.add_option("--alpha", command->alpha,
                 "significance level after Holm's adjustment (default: the thresholds file's)");
  app.add_flag("--allow-different-workloads", command->allowDifferentWorkloads,
               "compare runs whose workload-defining configuration differs (preset, batch, "
               "seed, ...), which otherwise exits 2");
  app.footer(
      "Exit codes: 0 no regression, 1 runtime failure, 2 bad input or different workloads, 3 a "
      "metric regressed. See docs/comparisons.md.");
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
