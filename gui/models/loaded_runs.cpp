#include "gui/models/loaded_runs.h"

#include <algorithm>
#include <set>

#include "analysis/characterization.h"
#include "analysis/trace_loader.h"
#include "reports/report_builder.h"
#include "reports/report_charts.h"

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

// Whether the document has a chart `prefix`...`-run` (the report drew that run's replay).
bool hasRunChart(const reports::ReportDocument& document, const std::string& prefix,
                 const std::string& run) {
  const std::string suffix = "-" + run;
  for (const auto* chart : document.charts()) {
    const std::string& id = chart->id;
    if (id.rfind(prefix, 0) == 0 && id.size() >= suffix.size() &&
        id.compare(id.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

PassCharts chartsForPasses(const LoadedRuns& loaded,
                           const std::vector<std::pair<uint32_t, uint32_t>>& passes) {
  PassCharts found;
  const std::set<collector::RoutingPass> selected(passes.begin(), passes.end());
  for (const auto& [label, run] : everyRun(loaded.inputs)) {
    const bool cache = hasRunChart(loaded.document, "miss-rate-", run->name);
    const bool placement = hasRunChart(loaded.document, "placement-", run->name);
    if (!run->routing || (!cache && !placement)) continue;
    const auto part = collector::onlyPasses(*run->routing, selected);
    if (part.records.empty()) continue;
    if (cache) {
      const auto replayed = analysis::characterizeLog(part, analysis::readRunLabel(run->dir),
                                                      reports::routingChartOptions());
      for (auto& chart : reports::missRateCharts(replayed, run->name)) {
        found.cache.push_back(std::move(chart));
      }
    }
    if (placement) {
      for (auto& chart :
           reports::placementCharts(analysis::routingLoads(part), run->name, found.notes)) {
        found.placement.push_back(std::move(chart));
      }
    }
  }
  std::set<uint32_t> batches;
  for (const auto& pass : passes) batches.insert(pass.first);
  for (auto& chart : reports::cacheTimelineCharts(
           analysis::onlyBatches(loaded.cacheTimeline, batches), loaded.tracedRun)) {
    found.cache.push_back(std::move(chart));
  }
  return found;
}

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
    const auto ranks = analysis::loadRankTraces(*trace);
    loaded.timeline = buildTimeline(ranks);
    if (!ranks.empty()) {
      // The report's cache charts of this trace have the same names (one per rank).
      loaded.cacheTimeline = analysis::cacheTimeline(ranks.front().trace);
      loaded.tracedRun = trace->filename().string() +
                         (ranks.size() > 1 ? "-rank" + std::to_string(ranks.front().rank) : "");
    }
  }
  step(progress, 100, "done");
  return loaded;
}

}  // namespace moeprof::gui
