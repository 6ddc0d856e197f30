#pragma once
// What `moeprof report` reads, found and checked before anything is written: run directories
// (single- or multi-rank), sweep and `reproduce` directories (summary.json beside run
// directories, reproduce's routing/ groups and deployment/ runs), and traces (a moeprof trace store
// or an Nsight Systems export). A missing path or a corrupt file is an InputError naming it; an
// incomplete run is read as far as it goes and says so.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/gating_study.h"
#include "analysis/trace_loader.h"
#include "collector/routing_log.h"
#include "collector/run_manifest.h"

namespace moeprof::reports {

struct RunInput {
  std::filesystem::path dir{};
  std::string name{};  // the directory's name
  collector::RunManifest manifest{};
  bool complete = false;
  std::vector<analysis::PhasePoint> points{};      // empty when incomplete
  std::optional<collector::RoutingLog> routing{};  // absent for dense models
  std::string routingProblem{};  // where an incomplete run's routing log stops, when it does
  std::vector<analysis::RankTraceFile> traces{};  // empty without a trace
  bool trained() const;                           // run on a trained checkpoint
};

// reproduce's routing/<group>/: runs of one model on several LM domains or MT languages.
struct RoutingGroup {
  std::string name{};  // "lm-trained", ...
  std::vector<RunInput> runs{};
};

struct SweepInput {
  std::filesystem::path dir{};
  std::vector<RunInput> runs{};  // the run directories directly inside, by name
  std::vector<RoutingGroup> routingGroups{};
  std::vector<RunInput> deploymentRuns{};  // reproduce --deployment's deployment/ runs, by name
  nlohmann::json provenance{};  // summary.json's "provenance" (reproduce), null when absent
};

struct TraceInput {
  std::filesystem::path file{};
};

struct ReportInputs {
  std::vector<RunInput> runs{};
  std::vector<SweepInput> sweeps{};
  std::vector<TraceInput> traces{};
  std::vector<std::string> warnings{};  // incomplete runs, logs cut short
};

// Throws InputError naming the path when it does not exist, is none of the accepted kinds, or
// holds a corrupt file (run.json, summary.json, a complete run's routing.bin).
ReportInputs readReportInputs(const std::vector<std::filesystem::path>& paths);

// One run directory (see RunInput); warnings about it are appended to `warnings`.
RunInput readRunInput(const std::filesystem::path& dir, std::vector<std::string>& warnings);

}  // namespace moeprof::reports
