#include <iostream>
#include <memory>

#include "cli/app.h"
#include "cli/comparison_flags.h"
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
  ComparisonFlags flags;

  int execute() const {
    if (json && markdown) throw InputError("--json and --markdown: choose one");
    const auto comparison = flags.compare(runA, runB);
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
  command->flags.add(app);
  app.footer(
      "Exit codes: 0 no regression, 1 runtime failure, 2 bad input or different workloads, 3 a "
      "metric regressed. See docs/comparisons.md.");
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
