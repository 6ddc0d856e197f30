#include "reports/report_inputs.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "collector/errors.h"

namespace moeprof::reports {

namespace fs = std::filesystem;

bool RunInput::trained() const {
  // run.json records the checkpoint as {"id", "path"}; older runs as its path.
  auto it = manifest.config.find("checkpoint");
  if (it == manifest.config.end()) return false;
  return it->is_object() || (it->is_string() && !it->get<std::string>().empty());
}

namespace {

constexpr const char* kAccepted =
    "a run directory (run.json), a sweep or reproduce directory (summary.json beside run "
    "directories), a trace.sqlite or an Nsight Systems SQLite export";

// A complete run's log must be whole; an incomplete run's is read up to where it stops.
void readRouting(RunInput& run, std::vector<std::string>& warnings) {
  const fs::path file = run.dir / collector::kRoutingLogFileName;
  if (!fs::exists(file)) return;
  if (run.complete) {
    run.routing = collector::readRoutingLog(file);
    return;
  }
  collector::RoutingLog log;
  try {
    collector::RoutingLogReader reader(file);
    log.header = reader.header();
    run.routing = log;
    while (auto record = reader.next()) run.routing->records.push_back(std::move(*record));
  } catch (const InputError& e) {
    run.routingProblem = e.what();
    warnings.push_back("run " + run.dir.string() + ": its routing log stops early (" + e.what() +
                       "); the records before that are shown");
  }
}

bool hasTrace(const fs::path& dir) {
  return fs::exists(dir / "trace.sqlite");
}

std::vector<fs::path> runDirsIn(const fs::path& dir) {
  std::vector<fs::path> runs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && fs::exists(entry.path() / collector::kManifestFileName)) {
      runs.push_back(entry.path());
    }
  }
  std::sort(runs.begin(), runs.end());
  return runs;
}

// The summary's provenance (null when it has none); InputError when it is not a JSON object.
nlohmann::json readSummaryProvenance(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError("cannot read " + file.string());
  try {
    auto json = nlohmann::json::parse(in);
    if (!json.is_object()) throw InputError(file.string() + " is not a JSON object");
    return json.value("provenance", nlohmann::json());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(file.string() + " is not valid JSON: " + e.what());
  }
}

SweepInput readSweep(const fs::path& dir, std::vector<std::string>& warnings) {
  SweepInput sweep{dir, {}, {}};
  if (fs::exists(dir / "summary.json")) {
    sweep.provenance = readSummaryProvenance(dir / "summary.json");
  }
  for (const auto& run : runDirsIn(dir)) sweep.runs.push_back(readRunInput(run, warnings));
  const fs::path routing = dir / "routing";
  if (fs::is_directory(routing)) {
    std::vector<fs::path> groups;
    for (const auto& entry : fs::directory_iterator(routing)) {
      if (entry.is_directory()) groups.push_back(entry.path());
    }
    std::sort(groups.begin(), groups.end());
    for (const auto& group : groups) {
      RoutingGroup g{group.filename().string(), {}};
      for (const auto& run : runDirsIn(group)) g.runs.push_back(readRunInput(run, warnings));
      if (!g.runs.empty()) sweep.routingGroups.push_back(std::move(g));
    }
  }
  if (const fs::path deployment = dir / "deployment"; fs::is_directory(deployment)) {
    for (const auto& run : runDirsIn(deployment)) {
      sweep.deploymentRuns.push_back(readRunInput(run, warnings));
    }
  }
  if (sweep.runs.empty() && sweep.routingGroups.empty() && sweep.deploymentRuns.empty()) {
    throw InputError(dir.string() + " holds no run directory; expected " + kAccepted);
  }
  return sweep;
}

}  // namespace

RunInput readRunInput(const fs::path& dir, std::vector<std::string>& warnings) {
  RunInput run;
  run.dir = dir;
  run.name = fs::absolute(dir).lexically_normal().filename().string();
  if (run.name.empty()) run.name = fs::absolute(dir).lexically_normal().parent_path().filename();
  run.manifest = collector::readManifest(dir);
  run.complete = run.manifest.status == collector::RunStatus::Complete;
  if (run.complete) {
    run.points = analysis::phasePoints(run.manifest, run.name);
  } else {
    warnings.push_back("run " + dir.string() +
                       " is incomplete (it stopped before writing its metrics); it is shown as "
                       "far as it goes");
  }
  readRouting(run, warnings);
  if (hasTrace(dir)) run.traces = analysis::findRankTraces(dir);
  return run;
}

ReportInputs readReportInputs(const std::vector<fs::path>& paths) {
  if (paths.empty()) throw InputError(std::string("nothing to report on; give ") + kAccepted);
  ReportInputs inputs;
  for (const auto& path : paths) {
    if (!fs::exists(path)) {
      throw InputError(path.string() + " does not exist; expected " + kAccepted);
    }
    if (fs::is_directory(path)) {
      if (fs::exists(path / collector::kManifestFileName)) {
        inputs.runs.push_back(readRunInput(path, inputs.warnings));
      } else {
        inputs.sweeps.push_back(readSweep(path, inputs.warnings));
      }
    } else {
      inputs.traces.push_back({path});
    }
  }
  return inputs;
}

}  // namespace moeprof::reports
