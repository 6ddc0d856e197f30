#include "cli/deployment_runs.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "cli/app.h"
#include "cli/rank_launcher.h"
#include "cli/sweep.h"
#include "collector/interruption.h"
#include "collector/run_manifest.h"
#include "reports/paper_figures.h"

namespace moeprof::cli {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kRanks = 2;
// The paper's batch sizes, as in the gating study.
constexpr int64_t kLmBatch = 8;
constexpr int64_t kMtBatch = 48;

struct PlacementStudy {
  const char* workload;
  int64_t batch;
  std::vector<const char*> balanced;  // placed from the round-robin run's routing
};

const std::vector<PlacementStudy>& placementStudies() {
  static const std::vector<PlacementStudy> studies = {{"lm", kLmBatch, {"greedy"}},
                                                      {"mt", kMtBatch, {"greedy", "anticorr"}}};
  return studies;
}

// The paper's slots per layer, or half the experts of a model with no more than that.
int64_t bufferingSlots(const workloads::RunOptions& options) {
  const int64_t experts = workloads::resolveRun(options).model.numExperts;
  const auto paperSlots =
      static_cast<int64_t>(*reports::paperValue("cache_slots", "mt", "decoder"));
  return experts > paperSlots ? paperSlots : std::max<int64_t>(1, experts / 2);
}

// `moeprof run` arguments for one multi-rank run of `o`.
std::vector<std::string> runArguments(const workloads::RunOptions& o, const fs::path& out) {
  std::vector<std::string> args = {"run", "--gating", "dynamic"};
  auto add = [&](const char* flag, const std::string& value) {
    args.insert(args.end(), {flag, value});
  };
  if (o.checkpoint.empty()) {
    add("--preset", o.preset);
  } else {
    add("--checkpoint", o.checkpoint.string());
  }
  add("--batch", std::to_string(*o.batch));
  add("--repeats", std::to_string(o.repeats));
  add("--seed", std::to_string(o.seed));
  add("--ranks", std::to_string(o.ranks));
  add("--placement", o.placement);
  if (!o.placementHistory.empty()) add("--placement-history", o.placementHistory.string());
  // The ranks share the threads.
  add("--threads", std::to_string(std::max<int64_t>(1, o.threads / o.ranks)));
  add("--out", out.string());
  if (o.force) args.push_back("--force");
  return args;
}

std::vector<analysis::DeploymentPoint> pointsOf(const fs::path& runDir) {
  return analysis::deploymentPoints(collector::readManifest(runDir), runDir.filename().string());
}

}  // namespace

size_t DeploymentStudy::runCount() {
  size_t runs = 4;  // MT unbuffered; buffered on demand, pre-gated, all-prefetch
  for (const auto& study : placementStudies()) runs += 1 + study.balanced.size();
  return runs;
}

workloads::RunOptions DeploymentStudy::modelRun(const std::string& workload, int64_t batch) const {
  workloads::RunOptions o;
  if (auto it = checkpoints.find(workload); it != checkpoints.end()) {
    o.checkpoint = it->second;
  } else {
    o.preset = workload + "-" + scale;
  }
  o.batch = batch;
  o.gating = workloads::GatingMode::Dynamic;
  o.repeats = std::min(repeats, kMaxRepeats);
  o.threads = threads > 0 ? threads : 1;
  o.force = force;
  o.out = "deployment";  // resolveRun wants one; the sweep and runRanks name the real one
  return o;
}

std::vector<workloads::RunOptions> DeploymentStudy::bufferingRuns() const {
  const auto unbuffered = modelRun("mt", kMtBatch);
  std::vector<workloads::RunOptions> runs = {unbuffered};
  const int64_t slots = bufferingSlots(unbuffered);
  for (const char* prefetch : {"off", "pregate", "all"}) {
    auto o = unbuffered;
    o.buffering = "lifo";  // the paper's policy
    o.cacheSlots = slots;
    o.prefetch = prefetch;
    runs.push_back(o);
  }
  return runs;
}

// The ranks of a run are processes of this binary: `moeprof run --ranks N` in a child process,
// its output in <run>.log beside the run directory.
fs::path DeploymentStudy::runRanks(const workloads::RunOptions& options,
                                   const fs::path& dir) const {
  const fs::path out = dir / runDirName(workloads::resolveRun(options));  // checks the input
  const fs::path log = dir / (out.filename().string() + ".log");
  fs::create_directories(dir);
  const int code = runChildCommand(runArguments(options, out), log);
  if (code > 128) throw collector::Interrupted(code - 128, "stopped during " + out.string());
  if (code != kExitOk) {
    throw std::runtime_error("the run " + out.string() + " failed (exit " + std::to_string(code) +
                             "); its output is in " + log.string());
  }
  return out;
}

std::vector<analysis::DeploymentPoint> DeploymentStudy::run(const fs::path& dir,
                                                            StepClock& clock) const {
  std::vector<analysis::DeploymentPoint> points;
  std::set<std::string> runDirs;
  for (const auto& p : executeSweep(bufferingRuns(), dir, force, &clock)) runDirs.insert(p.runDir);
  for (const auto& name : runDirs) {
    auto runPoints = pointsOf(dir / name);
    points.insert(points.end(), runPoints.begin(), runPoints.end());
  }
  for (const auto& study : placementStudies()) {
    auto roundRobin = modelRun(study.workload, study.batch);
    roundRobin.ranks = kRanks;
    std::vector<fs::path> runs = {runRanks(roundRobin, dir)};
    clock.stepDone();
    for (const char* placement : study.balanced) {
      auto balanced = roundRobin;
      balanced.placement = placement;
      balanced.placementHistory = runs.front();
      runs.push_back(runRanks(balanced, dir));
      clock.stepDone();
    }
    for (const auto& run : runs) {
      auto runPoints = pointsOf(run);
      points.insert(points.end(), runPoints.begin(), runPoints.end());
    }
  }
  return points;
}

}  // namespace moeprof::cli
