#include <algorithm>
#include <iostream>
#include <memory>
#include <string>

#include "analysis/trace_loader.h"
#include "analysis/trace_summary.h"
#include "cli/app.h"
#include "cli/run_status_note.h"
#include "reports/trace_summary_report.h"

namespace moeprof::cli {

namespace {

// A size_t option would take "-3" as a huge count, and CLI's range validators print the range
// as a 300-digit number; this says what is allowed.
const CLI::Validator kRowCount(
    [](const std::string& value) -> std::string {
      bool digits =
          !value.empty() && value.size() <= 9 &&
          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      return digits ? ""
                    : "'" + value +
                          "' is not a row count: use a whole number, 0 or more (0 shows all)";
    },
    "N>=0");

struct SummaryCommand {
  std::string runOrTrace;
  bool json = false;
  size_t top = 10;

  int execute() const {
    auto ranks = analysis::loadRankTraces(runOrTrace);
    analysis::RankedTraceSummary summary = analysis::summarizeRankTraces(ranks, {top});
    const std::string note = runStatusNote(runOrTrace);
    if (json) {
      std::cerr << note;
      std::cout << reports::rankedTraceSummaryJson(summary, runOrTrace);
    } else {
      std::cout << note << (note.empty() ? "" : "\n")
                << reports::rankedTraceSummaryText(summary, runOrTrace);
    }
    return kExitOk;
  }
};

}  // namespace

Action addSummaryCommand(CLI::App& app) {
  auto command = std::make_shared<SummaryCommand>();
  app.add_option("RUN_OR_TRACE", command->runOrTrace,
                 "run directory (every rank's trace of a --ranks N run: merged tables with a "
                 "column per rank), its trace.sqlite, or an Nsight Systems SQLite export "
                 "(nsys export --type sqlite)")
      ->required();
  app.add_flag("--json", command->json, "print JSON instead of tables");
  app.add_option("--top", command->top,
                 "rows per kernel, NVTX range and operator table, longest first; 0 shows all")
      ->check(kRowCount)
      ->capture_default_str();
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
