#include "cli/sweep.h"

#include <iostream>
#include <set>

#include "cli/progress.h"
#include "collector/atomic_file.h"
#include "collector/errors.h"
#include "collector/run_directory.h"
#include "reports/gating_report.h"
#include "workloads/run/memory_check.h"
#include "workloads/run/runner.h"

namespace moeprof::cli {

namespace {

// "-buffer<slots>-<prefetch>" with Expert Buffering, "-ranks<N>-<placement>" with ranks.
std::string deploymentLabel(const workloads::ResolvedRun& run) {
  std::string label;
  if (run.buffering) {
    label += "-buffer" + std::to_string(run.buffering->slotsPerLayer) + "-" +
             workloads::prefetchModeName(run.buffering->prefetch);
  }
  if (run.options.ranks > 1) {
    label += "-ranks" + std::to_string(run.options.ranks) + "-" + run.options.placement;
  }
  return label;
}

}  // namespace

std::string runDirName(const workloads::ResolvedRun& run) {
  std::string gating =
      run.model.moe ? std::string("-") + workloads::gatingName(run.options.gating) : "";
  const auto& text = run.options.text;
  std::string label = !text.domain.empty()     ? "-" + text.domain
                      : !text.language.empty() ? "-" + text.language
                                               : "";
  if (run.options.decode == "reference") label += "-reference";
  return run.model.name + gating + "-b" + std::to_string(run.batch) + label + deploymentLabel(run);
}

std::vector<analysis::PhasePoint> executeSweep(std::vector<workloads::RunOptions> runs,
                                               const std::filesystem::path& sweepDir, bool force,
                                               StepClock* clock) {
  if (!force && std::filesystem::exists(sweepDir / "summary.json")) {
    throw InputError(
        "--out '" + sweepDir.string() +
        "' already holds a sweep (summary.json); choose a new directory or pass --force");
  }
  std::vector<workloads::ResolvedRun> resolved;
  std::set<std::string> planned, warnings;
  for (auto& options : runs) {
    options.out = sweepDir;  // the run's own directory is named once the preset fills it in
    options.force = force;
    auto run = workloads::resolveRun(options);
    // A dense model has no gating: "static" and "dynamic" name the same run.
    if (!planned.insert(runDirName(run)).second) continue;
    run.options.out = sweepDir / runDirName(run);
    workloads::checkRunDirectory(run.options.out, force);
    workloads::checkRunMemory(run);
    for (const auto& warning : run.warnings) {
      if (warnings.insert(warning).second) std::cerr << "moeprof: warning: " << warning << "\n";
    }
    resolved.push_back(run);
  }
  std::error_code ignored;
  const bool createsSweepDir = !std::filesystem::exists(sweepDir, ignored);
  std::vector<analysis::PhasePoint> points;
  TerminalProgress progress;
  for (size_t i = 0; i < resolved.size(); ++i) {
    const std::string counter =
        "[" + std::to_string(i + 1) + "/" + std::to_string(resolved.size()) + "] ";
    auto prefix = [&] { return clock ? "[" + clock->status() + "] " : counter; };
    auto dir = collector::RunDirectory::claim(resolved[i].options.out, force);
    try {
      auto outcome = collector::runInDirectory(dir, [&] {
        return workloads::runWorkload(
            resolved[i], [&](const std::string& status) { progress.update(prefix() + status); });
      });
      auto runPoints = analysis::phasePoints(outcome.manifest, outcome.runDir.filename().string());
      points.insert(points.end(), runPoints.begin(), runPoints.end());
      if (clock) clock->stepDone();
    } catch (const InputError&) {  // the run's directory is gone; so is the sweep's if it is new
      if (createsSweepDir && std::filesystem::is_empty(sweepDir, ignored)) {
        std::filesystem::remove(sweepDir, ignored);
      }
      throw;
    }
  }
  progress.finish();
  return points;
}

std::string writeSweepSummary(const std::filesystem::path& sweepDir, const std::string& title,
                              const std::vector<analysis::PhasePoint>& points,
                              const reports::ReproductionExtras& extras) {
  std::filesystem::create_directories(sweepDir);
  std::string markdown = reports::gatingReportMarkdown(title, points, extras);
  collector::writeFileAtomically(sweepDir / "summary.md", markdown);
  collector::writeFileAtomically(sweepDir / "summary.json",
                                 reports::gatingReportJson(points, extras).dump(2) + "\n");
  return markdown;
}

}  // namespace moeprof::cli
