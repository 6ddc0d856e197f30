#pragma once
// Runs one workload configuration end to end: builds the model, measures warm-up and measured
// batches, and writes the run directory (run.json, routing log, and trace.sqlite when traced).
// run.json says "incomplete" from the start and "complete" only once every metric is in.
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
// --device cuda without CUDA) before anything is written, std::runtime_error for failures.
RunOutcome runWorkload(const ResolvedRun& run, const ProgressCallback& progress = {});

}  // namespace moeprof::workloads
