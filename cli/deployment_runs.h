#pragma once
// `moeprof reproduce --deployment`: the live runs of the deployment study under
// <out>/deployment/, dynamic gating throughout, on the trained models where reproduce has them,
// else on the scale's random-weight presets:
//   MT at batch 48, every expert resident, and with Expert Buffering (LIFO) at the paper's 10
//   slots per layer fetching on demand, pre-gated and all-prefetch (Pre-gated MoE's
//   comparison); half the experts where a model has 10 or fewer (--scale tiny);
//   LM at batch 8 and MT at batch 48 on 2 ranks (expert parallelism, one process per rank)
//   with round-robin placement, then greedy (and for MT the paper's anti-correlation variant)
//   placed from the round-robin run's routing.
// The rows beside the paper come from their metrics (reports::deploymentReproductionRows).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "analysis/deployment_study.h"
#include "cli/progress.h"
#include "workloads/run/run_options.h"

namespace moeprof::cli {

struct DeploymentStudy {
  std::string scale = "cpu";  // preset family of the random-weight models
  int64_t repeats = 5;        // capped at kMaxRepeats
  // Per process, the ranks of a run sharing them; 0: one. The ranks of a 2-rank run on 2 cores
  // get one each, and so do the single-rank runs, so that the study's runs compare; at one
  // thread the neighbours' load on a small machine moves timings least (see --quick).
  int64_t threads = 0;
  bool force = false;
  std::map<std::string, std::filesystem::path> checkpoints;  // trained models, by workload

  // Measured batches per run at most: the study adds minutes, not tens of them.
  static constexpr int64_t kMaxRepeats = 5;

  static size_t runCount();
  // Runs the study in `dir`, counting each run on `clock`; every measured phase of every run.
  std::vector<analysis::DeploymentPoint> run(const std::filesystem::path& dir,
                                             StepClock& clock) const;

 private:
  workloads::RunOptions modelRun(const std::string& workload, int64_t batch) const;
  std::vector<workloads::RunOptions> bufferingRuns() const;
  std::filesystem::path runRanks(const workloads::RunOptions& options,
                                 const std::filesystem::path& dir) const;
};

}  // namespace moeprof::cli
