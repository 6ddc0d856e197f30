#pragma once
// Runs a list of workload configurations one after another, one run directory each under a
// sweep directory, and writes the gating study of all of them (summary.md, summary.json).
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/gating_study.h"
#include "cli/progress.h"
#include "reports/reproduction_report.h"
#include "workloads/run/run_options.h"

namespace moeprof::cli {

// "<preset>-<gating>-b<batch>", or "<preset>-b<batch>" for a dense model; "-<domain>" or
// "-<lang>" follows for runs on a corpus domain or target language, then
// "-buffer<slots>-<prefetch>" with Expert Buffering and "-ranks<N>-<placement>" with expert
// parallelism.
std::string runDirName(const workloads::ResolvedRun& run);

// Resolves every run first (options, run directory, memory), so bad input fails before anything
// is written; then runs them, each in its own claimed run directory (collector::RunDirectory).
// Each RunOptions' `out` is replaced by sweepDir/runDirName(...). A run refused for bad input
// leaves nothing behind, nor the sweep directory when this sweep created it. Callers install
// collector::StopSignals, so that a stopped sweep marks its current run interrupted. `clock`,
// when given, counts each run as a step and leads the progress line (reproduce's time left).
std::vector<analysis::PhasePoint> executeSweep(std::vector<workloads::RunOptions> runs,
                                               const std::filesystem::path& sweepDir, bool force,
                                               StepClock* clock = nullptr);

// Writes sweepDir/summary.md and sweepDir/summary.json; returns the Markdown. `extras`: what
// reproduce adds (rows of routing on real text, provenance of its trained models).
std::string writeSweepSummary(const std::filesystem::path& sweepDir, const std::string& title,
                              const std::vector<analysis::PhasePoint>& points,
                              const reports::ReproductionExtras& extras = {});

}  // namespace moeprof::cli
