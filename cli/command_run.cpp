#include <iostream>
#include <memory>

#include "cli/app.h"
#include "cli/progress.h"
#include "cli/run_flags.h"
#include "reports/gating_report.h"
#include "workloads/runner.h"

namespace moeprof::cli {

namespace {

struct RunCommand {
  RunFlags flags;
  std::string gating = "dynamic";
  int64_t batch = 0;
  CLI::Option* batchOption = nullptr;
  std::filesystem::path out;

  int execute() const {
    auto options = flags.toRunOptions();
    options.gating = parseGating(gating);
    if (batchOption->count() > 0) options.batch = batch;
    options.out = out;
    auto run = workloads::resolveRun(options);
    TerminalProgress progress;
    auto outcome = workloads::runWorkload(run, [&](const std::string& s) { progress.update(s); });
    progress.finish();
    auto points = analysis::phasePoints(outcome.manifest, outcome.runDir.string());
    std::cout << reports::sweepTable(points).toText() << "\n"
              << reports::phaseBreakdownTable(points).toText() << "\nwrote "
              << (outcome.runDir / collector::kManifestFileName).string() << "\n";
    return kExitOk;
  }
};

}  // namespace

Action addRunCommand(CLI::App& app) {
  auto command = std::make_shared<RunCommand>();
  command->flags.addTo(app);
  app.add_option("--gating", command->gating, "static (capacity, the baseline) or dynamic")
      ->capture_default_str();
  command->batchOption =
      app.add_option("--batch", command->batch, "sequences per batch; default: the preset's");
  app.add_option("--out", command->out, "run directory to write")->required();
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
