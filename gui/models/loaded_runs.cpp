#include "gui/models/loaded_runs.h"

#include <algorithm>

#include "analysis/trace_loader.h"
#include "reports/report_builder.h"

namespace moeprof::gui {

namespace fs = std::filesystem;

namespace {

void step(const LoadProgress& progress, int percent, const std::string& text) {
  if (progress.cancelled && progress.cancelled->load()) throw LoadCancelled{};
  if (progress.report) progress.report(percent, text);
}

// Every run of the inputs with a label that says where it sits in a sweep.
std::vector<std::pair<std::string, const reports::RunInput*>> everyRun(
    const reports::ReportInputs& inputs) {
  std::vector<std::pair<std::string, const reports::RunInput*>> runs;
  for (const auto& run : inputs.runs) runs.emplace_back(run.name, &run);
  for (const auto& sweep : inputs.sweeps) {
    for (const auto& run : sweep.runs) runs.emplace_back(run.name, &run);
    for (const auto& group : sweep.routingGroups) {
      for (const auto& run : group.runs) {
        runs.emplace_back("routing/" + group.name + "/" + run.name, &run);
      }
    }
    for (const auto& run : sweep.deploymentRuns) runs.emplace_back("deployment/" + run.name, &run);
  }
  return runs;
}

std::optional<fs::path> firstTrace(const reports::ReportInputs& inputs) {
  for (const auto& [name, run] : everyRun(inputs)) {
    if (!run->traces.empty()) return run->dir;
  }
  if (!inputs.traces.empty()) return inputs.traces.front().file;
  return std::nullopt;
}

void readRoutings(LoadedRuns& loaded, const LoadProgress& progress) {
  const auto runs = everyRun(loaded.inputs);
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& [name, run] = runs[i];
    loaded.runDirs.push_back(run->dir);
    if (!run->routing) continue;
    step(progress, 50 + int(30 * i / runs.size()), "routing of " + name);
    loaded.routings.push_back({name, run->dir, analysis::routingLoads(*run->routing)});
  }
}

}  // namespace

std::vector<const charts::Chart*> LoadedRuns::chartsWithIdPrefix(
    const std::vector<std::string>& prefixes) const {
  std::vector<const charts::Chart*> found;
  for (const auto* chart : document.charts()) {
    for (const auto& prefix : prefixes) {
      if (chart->id.rfind(prefix, 0) == 0) {
        found.push_back(chart);
        break;
      }
    }
  }
  return found;
}

std::vector<std::pair<std::string, const reports::Table*>> LoadedRuns::sectionTables(
    const std::string& prefix) const {
  std::vector<std::pair<std::string, const reports::Table*>> found;
  for (const auto& section : document.sections) {
    if (section.title.rfind(prefix, 0) != 0) continue;
    const auto table = std::find_if(section.blocks.begin(), section.blocks.end(),
                                    [](const auto& block) { return block.table.has_value(); });
    if (table != section.blocks.end()) found.emplace_back(section.title, &*table->table);
  }
  return found;
}

LoadedRuns loadRuns(const std::vector<fs::path>& paths, const LoadProgress& progress) {
  LoadedRuns loaded;
  loaded.paths = paths;
  step(progress, 5, "reading run directories");
  loaded.inputs = reports::readReportInputs(paths);
  step(progress, 25, "analysing (the report's document)");
  std::vector<std::string> labels;
  for (const auto& p : paths) labels.push_back(p.string());
  loaded.document = reports::buildReport(loaded.inputs, labels);
  readRoutings(loaded, progress);
  if (const auto trace = firstTrace(loaded.inputs)) {
    step(progress, 85, "reading trace " + trace->string());
    loaded.timeline = buildTimeline(analysis::mergeRankTraces(analysis::loadRankTraces(*trace)));
  }
  step(progress, 100, "done");
  return loaded;
}

}  // namespace moeprof::gui
