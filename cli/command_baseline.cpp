#include <iostream>
#include <memory>

#include "analysis/comparison_inputs.h"
#include "analysis/comparison_rules.h"
#include "cli/app.h"
#include "collector/atomic_file.h"
#include "collector/errors.h"

namespace moeprof::cli {

namespace {

// Writes the part of a set of runs that survives a change of machine as a baseline file
// (reports/baselines/), for `moeprof compare BASELINE RUNS` and the CI gate.
struct BaselineCommand {
  std::string runs;
  std::filesystem::path out;
  std::string thresholds;

  int execute() const {
    const auto rules = thresholds.empty() ? analysis::shippedComparisonRules()
                                          : analysis::readComparisonRules(thresholds);
    auto set = analysis::loadComparable(runs);
    if (set.kind == analysis::SetKind::Baseline) {
      throw InputError("'" + runs + "' is a baseline already; give the runs it should hold");
    }
    for (const auto& run : set.runs) {
      if (!run.complete) {
        throw InputError("'" + runs + "': run " + run.name +
                         " is incomplete; a baseline holds complete runs only");
      }
    }
    const std::string createdBy = "moeprof baseline " + runs + " --out " + out.string();
    collector::writeFileAtomically(out, analysis::baselineText(set, rules, createdBy));
    std::cout << "wrote " << out.string() << ": " << set.runs.size() << " run(s), "
              << set.ratios.size() << " side-by-side ratio(s)\n";
    return kExitOk;
  }
};

}  // namespace

Action addBaselineCommand(CLI::App& app) {
  auto command = std::make_shared<BaselineCommand>();
  app.add_option("RUNS", command->runs, "a run directory or a directory of runs")->required();
  app.add_option("--out", command->out, "the baseline file to write")->required();
  app.add_option("--thresholds", command->thresholds,
                 "thresholds file deciding which metrics are deterministic (default: shipped)");
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
