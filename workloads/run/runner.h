#pragma once
// Runs one workload configuration end to end: builds the model, measures warm-up and measured
// batches, and writes the run directory (run.json, routing log, and trace.sqlite when traced).
// run.json says "incomplete" from the start and "complete" only once every metric is in
// ("interrupted" when the run was asked to stop and closed its files first).
#include <filesystem>
#include <functional>
#include <string>

#include "collector/run_manifest.h"
#include "workloads/run/run_options.h"

namespace moeprof::workloads {

using ProgressCallback = std::function<void(const std::string& status)>;

struct RunOutcome {
  std::filesystem::path runDir;
  collector::RunManifest manifest;
};

// Throws InputError for inputs that only turn out bad at run time (an unreadable token file,
// --device cuda without CUDA, a checkpoint's weights), std::runtime_error for failures, and
// collector::Interrupted when a stop was requested (collector/interruption.h): the run stops
// before its next batch (all ranks before the same one), keeps its whole routing records and
// committed trace events, and rank 0 marks run.json "interrupted" with the reason. The run
// directory is the caller's to claim (collector::RunDirectory) and to discard on InputError.
RunOutcome runWorkload(const ResolvedRun& run, const ProgressCallback& progress = {});

}  // namespace moeprof::workloads
