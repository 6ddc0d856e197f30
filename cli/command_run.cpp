#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "cli/app.h"
#include "cli/progress.h"
#include "cli/rank_launcher.h"
#include "cli/run_flags.h"
#include "collector/errors.h"
#include "collector/interruption.h"
#include "collector/run_directory.h"
#include "reports/gating_report.h"
#include "workloads/parallel/rank_environment.h"
#include "workloads/run/memory_check.h"
#include "workloads/run/runner.h"

namespace moeprof::cli {

namespace {

// One line on what the slow tier delivered, for runs with --buffering: the bandwidth reads
// achieved while the tier was busy against the tier's peak at the same depth, sampled around
// every measured batch; and how much that peak drifted during the run.
void printBufferingLine(const nlohmann::json& metrics) {
  auto found = metrics.find("buffering");
  if (found == metrics.end() || !found->contains("bandwidth_efficiency")) return;
  const nlohmann::json& b = *found;
  char line[320];
  std::snprintf(line, sizeof line,
                "expert buffering: %llu misses, %.1f ms reading (%.2f reads in flight), %.3f "
                "GB/s; the tier's peak %.3f GB/s (samples %.1fx apart): efficiency %.2f (%.2f at "
                "the depths offered)\n",
                static_cast<unsigned long long>(b.value("misses", uint64_t{0})),
                b.value("transfer_ms", 0.0), b.value("mean_reads_in_flight", 0.0),
                b.value("achieved_bandwidth_gbps", 0.0), b.value("tier_peak_bandwidth_gbps", 0.0),
                b.value("tier_peak_spread", 0.0), b.value("bandwidth_efficiency", 0.0),
                b.value("bandwidth_efficiency_at_offered_depth", 0.0));
  std::cout << line;
}

// How long a rank asked to stop may take to reach a safe point before it ends anyway (a rank
// blocked in an all-to-all with a rank that is gone).
constexpr std::chrono::seconds kRankStopGrace{60};

struct RunCommand {
  RunFlags flags;
  std::string gating = "dynamic";
  int64_t batch = 0;
  CLI::Option* batchOption = nullptr;
  std::filesystem::path out;
  // Expert parallelism.
  int64_t ranks = 1;
  CLI::Option* ranksOption = nullptr;
  std::string placement = "roundrobin";
  std::filesystem::path placementHistory;
  double rendezvousTimeoutS = 30;

  // Under a launcher (ours or a cluster's) this process is one rank of a larger world.
  static std::optional<workloads::Rendezvous> worldOfThisProcess() {
    auto env = workloads::processEnvironment();
    auto rendezvous = workloads::rendezvousFromEnvironment(env);
    if (!rendezvous || rendezvous->worldSize <= 1) return std::nullopt;
    return rendezvous;
  }

  void addExpertParallelOptions(workloads::RunOptions& options,
                                const std::optional<workloads::Rendezvous>& world) const {
    options.ranks = ranks;
    options.placement = placement;
    options.placementHistory = placementHistory;
    options.rendezvousTimeoutS = rendezvousTimeoutS;
    if (!world) return;
    if (ranksOption->count() > 0 && ranks != world->worldSize) {
      throw InputError("--ranks " + std::to_string(ranks) + " but the launcher started " +
                       std::to_string(world->worldSize) +
                       " ranks (WORLD_SIZE or its Open MPI / Slurm equivalent); give the same "
                       "count or leave --ranks out");
    }
    options.ranks = world->worldSize;
    if (options.threads == 0) {  // the ranks on this machine share its cores
      int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      options.threads =
          std::max(1, cores / workloads::localWorldSize(workloads::processEnvironment()));
    }
  }

  int execute() const {
    auto options = flags.toRunOptions();
    options.gating = parseGating(gating);
    if (batchOption->count() > 0) options.batch = batch;
    options.out = out;
    auto world = worldOfThisProcess();
    addExpertParallelOptions(options, world);
    auto run = workloads::resolveRun(options);  // every rank checks everything before joining
    if (!world) {  // the ranks of a world share its machines: the launcher checks for them
      workloads::checkRunMemory(run);
      for (const auto& warning : run.warnings) std::cerr << "moeprof: warning: " << warning << "\n";
    }
    if (!world && run.options.ranks > 1) {
      collector::StopSignals signals(/*escalate=*/false);  // waitForRanks decides
      auto dir = collector::RunDirectory::claim(out, options.force);
      int code = launchLocalRanks(static_cast<int>(run.options.ranks), dir.lockDescriptor());
      if (code == kExitBadInput) dir.discard();
      return code;
    }
    if (world) return executeRank(run, *world);
    collector::StopSignals signals;
    auto dir = collector::RunDirectory::claim(out, options.force);
    TerminalProgress progress;
    auto outcome = collector::runInDirectory(dir, [&] {
      return workloads::runWorkload(run, [&](const std::string& s) { progress.update(s); });
    });
    progress.finish();
    report(outcome);
    return kExitOk;
  }

  // One rank of a world. A rank of `moeprof run --ranks` holds its launcher's lock; under a
  // cluster launcher rank 0 locks the directory before the ranks meet (no rank writes before).
  int executeRank(workloads::ResolvedRun& run, const workloads::Rendezvous& world) const {
    collector::StopSignals signals(/*escalate=*/false, kRankStopGrace);
    run.rendezvous = world;
    run.rendezvous->timeout =
        std::chrono::milliseconds(static_cast<int64_t>(rendezvousTimeoutS * 1000));
    auto dir = collector::RunDirectory::inherit(out);
    if (!dir && world.rank == 0)
      dir.emplace(collector::RunDirectory::claim(out, run.options.force));
    auto runRank = [&](const workloads::ProgressCallback& progress) {
      return dir ? collector::runInDirectory(*dir,
                                             [&] { return workloads::runWorkload(run, progress); })
                 : workloads::runWorkload(run, progress);
    };
    if (world.rank != 0) {  // rank 0 speaks for the run
      runRank({});
      return kExitOk;
    }
    TerminalProgress progress;
    auto outcome = runRank([&](const std::string& s) { progress.update(s); });
    progress.finish();
    report(outcome);
    return kExitOk;
  }

  static void report(const workloads::RunOutcome& outcome) {
    auto points = analysis::phasePoints(outcome.manifest, outcome.runDir.string());
    std::cout << reports::sweepTable(points).toText() << "\n"
              << reports::phaseBreakdownTable(points).toText() << "\nwrote "
              << (outcome.runDir / collector::kManifestFileName).string() << "\n";
    printBufferingLine(outcome.manifest.metrics);
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
  app.add_option("--out", command->out,
                 "run directory to write: new or empty (with --force, one holding an earlier "
                 "run); locked while the run writes it, so a second run there exits 2")
      ->required();
  app.footer(
      "Exit codes: 0 done, 1 failed, 2 bad input (nothing written), 130/143 stopped by "
      "SIGINT/SIGTERM: the run stops before its next batch, closes its trace and routing log, "
      "and run.json says \"interrupted\" with the reason (a second signal ends it at once).");
  command->ranksOption = app.add_option(
      "--ranks", command->ranks,
      "expert parallelism: run N ranks (this binary starts N processes on this machine; they "
      "meet in a file under $TMPDIR and talk over Gloo on 127.0.0.1), each holding batch/N "
      "sequences and E/N experts per MoE layer. Under "
      "torchrun, mpirun or srun (RANK/WORLD_SIZE, OMPI_COMM_WORLD_*, SLURM_PROCID/NTASKS set, "
      "with MASTER_ADDR/MASTER_PORT) each process is one rank and N defaults to the world size");
  command->ranksOption->capture_default_str();
  app.add_option("--placement", command->placement,
                 "which rank holds which experts: roundrobin (expert e on rank e % N), greedy "
                 "(the paper's: heaviest experts first onto the least-loaded rank) or anticorr "
                 "(greedy plus 0.5 x load correlation with experts already there), eplb or "
                 "eplb:N (EPLB-style: the heaviest experts get N extra replicas, default one per "
                 "rank, that split their tokens; dynamic gating); all but roundrobin need "
                 "--placement-history")
      ->capture_default_str();
  app.add_option("--placement-history", command->placementHistory,
                 "expert loads for greedy/anticorr/eplb: a run directory of the same model, or its "
                 "routing.bin");
  app.add_option("--rendezvous-timeout", command->rendezvousTimeoutS,
                 "seconds the ranks may take to find each other at MASTER_ADDR:MASTER_PORT")
      ->capture_default_str();
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
