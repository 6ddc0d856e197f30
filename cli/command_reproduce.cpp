#include <iostream>
#include <memory>

#include "cli/app.h"
#include "cli/sweep.h"
#include "collector/errors.h"
#include "reports/gating_report.h"

namespace moeprof::cli {

namespace {

// The paper's gating characterization: static vs dynamic gating on both workloads at the
// paper's batch sizes (LM 8; MT 48, plus 8 where the paper gives activation memory), and the
// static MoE models against their dense counterparts.
struct ReproduceCommand {
  std::string scale = "cpu";
  int64_t repeats = 5;
  int64_t threads = 0;
  bool force = false;
  std::filesystem::path out = "runs/reproduce";

  workloads::RunOptions point(const std::string& preset, int64_t batch,
                              workloads::GatingMode gating) const {
    workloads::RunOptions o;
    o.preset = preset;
    o.batch = batch;
    o.gating = gating;
    o.repeats = repeats;
    o.threads = threads;
    return o;
  }

  std::vector<workloads::RunOptions> plan() const {
    if (scale != "cpu" && scale != "tiny" && scale != "paper") {
      throw InputError("--scale '" + scale + "' is not one of: cpu, tiny, paper");
    }
    using workloads::GatingMode;
    std::vector<workloads::RunOptions> runs;
    const std::pair<const char*, std::vector<int64_t>> workloads[] = {{"lm", {8}}, {"mt", {8, 48}}};
    for (const auto& [workload, batches] : workloads) {
      std::string moe = std::string(workload) + "-" + scale;
      std::string dense = std::string(workload) + "-dense-" + scale;
      for (int64_t batch : batches) {
        runs.push_back(point(moe, batch, GatingMode::Static));
        runs.push_back(point(moe, batch, GatingMode::Dynamic));
      }
      runs.push_back(point(dense, batches.back(), GatingMode::Static));
    }
    return runs;
  }

  int execute() const {
    auto points = executeSweep(plan(), out, force);
    writeSweepSummary(out, "moeprof reproduce: dynamic gating vs static gating", points);
    std::cout << reports::reproductionTable(points).toText() << "\n"
              << reports::sweepTable(points).toText()
              << "\nreport: " << (out / "summary.md").string() << "\n";
    return kExitOk;
  }
};

}  // namespace

Action addReproduceCommand(CLI::App& app) {
  auto command = std::make_shared<ReproduceCommand>();
  app.add_option("--scale", command->scale,
                 "preset family: cpu (default, fits 24 GB), tiny (seconds, for tests), paper "
                 "(exact shapes, large machines)")
      ->capture_default_str();
  app.add_option("--repeats", command->repeats, "measured batches per run")->capture_default_str();
  app.add_option("--threads", command->threads, "LibTorch threads; default: one per core");
  app.add_option("--out", command->out, "directory for the runs and the report")
      ->capture_default_str();
  app.add_flag("--force", command->force, "replace an earlier reproduction in --out");
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
