// `moeprof report PATH... [--out DIR]`: report.html (self-contained, charts inline),
// report.md (GitHub tables, charts as SVG files beside it) and report.json (every number shown)
// of run directories, sweeps, reproduce directories and traces.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/app.h"
#include "collector/errors.h"
#include "reports/report_builder.h"
#include "reports/report_writers.h"

namespace moeprof::cli {

namespace {

namespace fs = std::filesystem;

struct ReportCommand {
  std::vector<std::string> inputs;
  std::string out;
  bool everyRun = false;

  // One directory: the report goes into it (beside run.json or summary.json).
  fs::path outputDirectory() const {
    if (!out.empty()) return out;
    if (inputs.size() == 1 && fs::is_directory(inputs[0])) return inputs[0];
    return "moeprof-report";
  }

  int execute() const {
    const fs::path dir = outputDirectory();
    if (fs::exists(dir) && !fs::is_directory(dir)) {
      throw InputError("--out '" + dir.string() + "' is a file; give a directory");
    }
    reports::ReportOptions options;
    options.everyRun = everyRun;
    // Everything is read and built before the first file is written: bad input writes nothing.
    const auto document =
        reports::buildReport(std::vector<fs::path>(inputs.begin(), inputs.end()), options);
    const auto written = reports::writeReport(document, dir);
    std::cout << "report: " << written.front().string() << "\n"
              << "also: " << (dir / "report.md").string() << " (charts in "
              << (dir / reports::kReportChartsDir).string() << "), "
              << (dir / "report.json").string() << "\n";
    return kExitOk;
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
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
