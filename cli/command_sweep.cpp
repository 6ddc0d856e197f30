#include <iostream>
#include <memory>

#include "cli/app.h"
#include "cli/run_flags.h"
#include "cli/sweep.h"
#include "collector/interruption.h"
#include "reports/gating_report.h"

namespace moeprof::cli {

namespace {

struct SweepCommand {
  RunFlags flags;
  std::vector<std::string> gatings = {"static", "dynamic"};
  std::vector<int64_t> batches;
  std::filesystem::path out;

  int execute() const {
    auto base = flags.toRunOptions();
    std::vector<workloads::RunOptions> runs;
    std::vector<std::optional<int64_t>> batchList(batches.begin(), batches.end());
    if (batchList.empty()) batchList.push_back(std::nullopt);  // the preset's
    for (const auto& batch : batchList) {
      for (const auto& gating : gatings) {
        auto options = base;
        options.gating = parseGating(gating);
        options.batch = batch;
        runs.push_back(options);
      }
    }
    collector::StopSignals signals;
    auto points = executeSweep(runs, out, base.force);
    writeSweepSummary(out, "moeprof sweep", points);
    std::cout << reports::sweepTable(points).toText() << "\n"
              << reports::reproductionTable(points).toText() << "\nwrote "
              << (out / "summary.md").string() << "\n";
    return kExitOk;
  }
};

}  // namespace

Action addSweepCommand(CLI::App& app) {
  auto command = std::make_shared<SweepCommand>();
  command->flags.addTo(app);
  app.add_option("--gating", command->gatings, "gating modes, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--batch", command->batches, "batch sizes, comma-separated; default: the preset's")
      ->delimiter(',');
  app.add_option("--out", command->out, "sweep directory (one run directory per point)")
      ->required();
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
