// `moeprof report PATH... [--baseline PATH...] [--out DIR]`: report.html (self-contained,
// charts inline), report.md (GitHub tables, charts as SVG files beside it) and report.json
// (every number shown) of run directories, sweeps, reproduce directories and traces; with
// --baseline, opened by the verdicts against it (exit 3 on a regression, as `compare`).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/comparison_flags.h"
#include "collector/errors.h"
#include "reports/report_builder.h"
#include "reports/report_writers.h"
#include "reports/verdict_report.h"

namespace moeprof::cli {

namespace {

namespace fs = std::filesystem;

struct ReportCommand {
  std::vector<std::string> inputs;
  std::string out;
  bool everyRun = false;
  std::vector<std::string> baselines;
  ComparisonFlags flags;

  // One directory: the report goes into it (beside run.json or summary.json).
  fs::path outputDirectory() const {
    if (!out.empty()) return out;
    if (inputs.size() == 1 && fs::is_directory(inputs[0])) return inputs[0];
    return "moeprof-report";
  }

  // Each input against its baseline: one baseline for every input, or one per input in order.
  std::vector<analysis::Comparison> comparisons() const {
    if (baselines.size() > 1 && baselines.size() != inputs.size()) {
      throw InputError("--baseline: " + std::to_string(baselines.size()) + " baselines for " +
                       std::to_string(inputs.size()) +
                       " inputs; give one baseline for all inputs or one per input");
    }
    std::vector<analysis::Comparison> out;
    for (size_t i = 0; i < inputs.size() && !baselines.empty(); ++i) {
      out.push_back(flags.compare(baselines[baselines.size() == 1 ? 0 : i], inputs[i]));
    }
    return out;
  }

  // The verdicts open the report: they are what a reader of a CI artifact looks for first.
  static void addVerdicts(reports::ReportDocument& document,
                          const std::vector<analysis::Comparison>& comparisons) {
    const size_t before = document.sections.size();
    for (const auto& comparison : comparisons) reports::addVerdictSection(document, comparison);
    std::rotate(document.sections.begin(), document.sections.begin() + long(before),
                document.sections.end());
  }

  int execute() const {
    const fs::path dir = outputDirectory();
    if (fs::exists(dir) && !fs::is_directory(dir)) {
      throw InputError("--out '" + dir.string() + "' is a file; give a directory");
    }
    reports::ReportOptions options;
    options.everyRun = everyRun;
    // Everything is read and built before the first file is written: bad input writes nothing.
    const auto comparisons = this->comparisons();
    auto document =
        reports::buildReport(std::vector<fs::path>(inputs.begin(), inputs.end()), options);
    addVerdicts(document, comparisons);
    const auto written = reports::writeReport(document, dir);
    std::cout << "report: " << written.front().string() << "\n"
              << "also: " << (dir / "report.md").string() << " (charts in "
              << (dir / reports::kReportChartsDir).string() << "), "
              << (dir / "report.json").string() << "\n";
    bool regressed = false;
    for (const auto& comparison : comparisons) {
      std::cout << "against " << comparison.labelA << ": "
                << (comparison.regressed() ? "regressed" : "no regression") << "\n";
      regressed = regressed || comparison.regressed();
    }
    return regressed ? kExitRegression : kExitOk;
  }
};

}  // namespace

Action addReportCommand(CLI::App& app) {
  auto command = std::make_shared<ReportCommand>();
  app.add_option("PATH", command->inputs,
                 "run directories (one rank or --ranks N), sweep or reproduce directories "
                 "(summary.json beside run directories), trace.sqlite files or Nsight Systems "
                 "SQLite exports")
      ->required();
  app.add_option("--out", command->out,
                 "directory for report.html, report.md, report.json and report-charts/ "
                 "(default: PATH when it is the only one and a directory, else moeprof-report)");
  app.add_flag("--every-run", command->everyRun,
               "routing charts for every run of a sweep, not one static and one dynamic run per "
               "workload (larger report)");
  app.add_option("--baseline", command->baselines,
                 "open the report with the verdicts of each PATH against a baseline (a baseline "
                 "file of moeprof baseline, a run or a directory of runs): one for all PATHs or "
                 "one per PATH; exit 3 on a regression, as moeprof compare");
  command->flags.add(app);
  app.footer(
      "Exit codes: 0 written (no regression), 1 runtime failure, 2 bad input (nothing written), "
      "3 written, and a metric regressed against --baseline. See docs/reports.md.");
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
