#include <iostream>
#include <memory>

#include "analysis/run_comparison.h"
#include "cli/app.h"
#include "cli/run_status_note.h"
#include "reports/comparison_report.h"

namespace moeprof::cli {

namespace {

struct CompareCommand {
  std::string runA, runB;
  bool json = false;

  int execute() const {
    auto a = collector::readManifest(runA);
    auto b = collector::readManifest(runB);
    auto comparison = analysis::compareRuns(a, b, runA, runB);
    const std::string notes = runStatusNote(runA) + runStatusNote(runB);
    if (json) {
      std::cerr << notes;
      std::cout << reports::comparisonJson(comparison) << "\n";
      return kExitOk;
    }
    std::cout << notes << (notes.empty() ? "" : "\n") << "A: " << runA << "\nB: " << runB << "\n\n"
              << reports::comparisonTable(comparison).toText();
    if (!comparison.configDifferences.empty()) {
      std::cout << "\n" << reports::configDifferencesTable(comparison).toText();
    }
    return kExitOk;
  }
};

}  // namespace

Action addCompareCommand(CLI::App& app) {
  auto command = std::make_shared<CompareCommand>();
  app.add_option("A", command->runA, "run directory (the baseline)")->required();
  app.add_option("B", command->runB, "run directory")->required();
  app.add_flag("--json", command->json, "print JSON instead of tables");
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
