#include "reports/report_builder.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "analysis/characterization.h"
#include "analysis/memory_timeline.h"
#include "analysis/trace_summary.h"
#include "collector/build_info.h"
#include "reports/characterization_report.h"
#include "reports/gating_report.h"
#include "reports/paper_figures.h"
#include "reports/report_sections.h"
#include "reports/trace_summary_report.h"

namespace moeprof::reports {

namespace fs = std::filesystem;

namespace detail {

void addTraceSection(ReportDocument& document, const fs::path& runOrFile,
                     const std::string& title) {
  const auto ranks = analysis::loadRankTraces(runOrFile);
  const auto summary = analysis::summarizeRankTraces(ranks);
  auto& s = document.section(title, 3);
  const auto& merged = summary.merged;
  s.paragraph("Source " + (merged.meta.count("source") ? merged.meta.at("source") : "?") + ", " +
              std::to_string(ranks.size()) + (ranks.size() == 1 ? " trace" : " rank traces") +
              ", span " + formatNumber(double(merged.endNs - merged.startNs) / 1e6, 4) + " ms.");
  if (ranks.size() > 1) s.table(rankSummaryTable(summary), "Every rank");
  std::vector<std::pair<std::string, std::vector<analysis::DeviceMemoryTimeline>>> timelines;
  for (const auto& r : ranks) {
    timelines.emplace_back(ranks.size() > 1 ? "rank " + std::to_string(r.rank) : "",
                           analysis::memoryTimelines(r.trace));
  }
  if (auto chart = memoryTimelineChart(timelines, "Memory timeline")) s.chart(std::move(*chart));
  s.chart(eventCountChart(merged, "Events in the trace"));
  const std::string name = runOrFile.filename().string();
  for (const auto& r : ranks) {
    const std::string rankName = ranks.size() > 1 ? name + "-rank" + std::to_string(r.rank) : name;
    for (auto& chart : cacheTimelineCharts(analysis::cacheTimeline(r.trace), rankName)) {
      s.chart(std::move(chart));
    }
  }
  const std::pair<Table, const char*> tables[] = {
      {kernelSummaryTable(merged), "GPU kernels, longest first"},
      {copySummaryTable(merged), "Copies"},
      {rangeSummaryTable(merged), "NVTX ranges, longest first"},
      {operatorSummaryTable(merged), "Operators, longest first"},
      {memoryPeakTable(merged), "Memory peaks"}};
  for (const auto& [table, caption] : tables) {
    if (table.numRows() > 0) s.table(table, caption);
  }
}

}  // namespace detail

namespace {

// Trained and random-weight runs of one preset family side by side are told apart.
std::vector<analysis::PhasePoint> labelledPoints(const std::vector<RunInput>& runs) {
  bool anyTrained = false;
  for (const auto& r : runs) anyTrained = anyTrained || r.trained();
  std::vector<analysis::PhasePoint> points;
  for (const auto& r : runs) {
    for (auto p : r.points) {
      if (anyTrained && p.gating != "none") p.preset += r.trained() ? " (trained)" : " (random)";
      points.push_back(std::move(p));
    }
  }
  // Reading order: workload, batch, phase in model order, then static, dynamic, dense.
  auto rank = [](const std::string& value, std::initializer_list<const char*> order) {
    int i = 0;
    for (const char* o : order) {
      if (value == o) return i;
      ++i;
    }
    return i;
  };
  std::stable_sort(points.begin(), points.end(), [&](const auto& a, const auto& b) {
    auto key = [&](const analysis::PhasePoint& p) {
      return std::tuple(p.workload, !p.preset.ends_with("(trained)"), p.batch,
                        rank(p.phase, {"forward", "generate", "encoder", "decoder"}),
                        rank(p.gating, {"static", "dynamic", "none"}));
    };
    return key(a) < key(b);
  });
  return points;
}

// One static and one dynamic run per workload: the largest batch, trained weights first.
std::vector<const RunInput*> representativeRuns(const std::vector<RunInput>& runs,
                                                const ReportOptions& options) {
  std::map<std::string, const RunInput*> best;  // workload + gating -> run
  std::vector<const RunInput*> out;
  for (const auto& r : runs) {
    if (!r.routing) continue;
    if (options.everyRun || !r.complete) {
      out.push_back(&r);
      continue;
    }
    const auto& c = r.manifest.config;
    const std::string key = c.value("workload", "") + "/" + c.value("gating", "");
    auto rank = [](const RunInput& x) {
      return std::pair{x.trained(), x.manifest.config.value("batch", int64_t{0})};
    };
    if (!best.count(key) || rank(r) > rank(*best[key])) best[key] = &r;
  }
  for (const auto& [key, run] : best) out.push_back(run);
  return out;
}

// reproduce's routing groups, for the routing rows beside the paper.
std::vector<RoutingGroupStatistics> routingGroupStatistics(const SweepInput& sweep) {
  std::vector<RoutingGroupStatistics> groups;
  for (const auto& group : sweep.routingGroups) {
    RoutingGroupStatistics g{group.name, {}};
    for (const auto& run : group.runs) {
      if (run.routing) g.runs.push_back(analysis::routingStatistics(*run.routing));
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

// reproduce --deployment's runs, every measured phase.
std::vector<analysis::DeploymentPoint> deploymentPoints(const SweepInput& sweep) {
  std::vector<analysis::DeploymentPoint> points;
  for (const auto& run : sweep.deploymentRuns) {
    if (!run.complete) continue;
    auto runPoints = analysis::deploymentPoints(run.manifest, run.name);
    points.insert(points.end(), runPoints.begin(), runPoints.end());
  }
  return points;
}

void addSweepOverview(ReportDocument& document, const SweepInput& sweep,
                      const ReportOptions& options) {
  const auto points = labelledPoints(sweep.runs);
  if (points.empty()) return;
  auto& s = document.section("Measured beside the paper");
  const ReproductionExtras extras{routingReproductionRows(routingGroupStatistics(sweep)),
                                  deploymentReproductionRows(deploymentPoints(sweep)), nullptr};
  s.table(reproductionTable(allRows(points, extras)),
          "Each finding, measured and the paper's (" + std::string(kPaperFiguresFile) + ")");
  s.paragraph(verdictRulesText());
  if (!extras.deploymentRows.empty()) s.paragraph(deploymentSourcesText());
  if (auto chart = speedupChart(points)) s.chart(std::move(*chart));
  if (!sweep.provenance.is_null()) {
    auto& p = document.section("What the trained models were built from");
    p.table(provenanceTable(sweep.provenance));
    p.paragraph(reproducibilityText(sweep.provenance));
  }
  auto& phases = document.section("Where the time goes");
  for (auto& chart : phaseBreakdownCharts(points)) phases.chart(std::move(chart));
  phases.table(phaseBreakdownTable(points), "Milliseconds per unit in each phase");
  auto& memory = document.section("Memory");
  if (auto chart = peakMemoryChart(points)) memory.chart(std::move(*chart));
  auto& every = document.section("Every run");
  every.table(sweepTable(points));
}

void addRoutingGroups(ReportDocument& document, const SweepInput& sweep) {
  if (sweep.routingGroups.empty()) return;
  auto& intro = document.section("Routing on real text");
  intro.paragraph(
      "Each LM domain and MT target language through one model: expert loads side "
      "by side, and how similar they are (cosine, Jensen-Shannon divergence).");
  analysis::CharacterizationOptions options;
  options.slots = {2, 4, 8, 16};
  for (const auto& group : sweep.routingGroups) {
    analysis::Characterization characterization;
    std::vector<std::pair<std::string, const analysis::RoutingStatistics*>> stats;
    for (const auto& run : group.runs) {
      if (!run.routing) continue;
      characterization.runs.push_back(
          analysis::characterizeLog(*run.routing, analysis::readRunLabel(run.dir), options));
    }
    if (characterization.runs.empty()) continue;
    analysis::addSimilarity(characterization, options);
    auto& s = document.section("Routing: " + group.name, 3);
    for (const auto& rc : characterization.runs) {
      const std::string name = !rc.label.domain.empty() ? rc.label.domain
                               : !rc.label.lang.empty() ? rc.label.lang
                                                        : rc.label.source;
      stats.emplace_back(name, &rc.statistics);
    }
    for (const auto& stack : characterization.runs.front().statistics.stacks) {
      s.chart(domainLoadsHeatmap(stats, stack.stack, group.name));
    }
    s.table(routingTable(characterization), "Routing statistics per run and stack");
    for (const auto& matrix : characterization.similarity) {
      s.table(similarityTable(characterization, matrix),
              std::string("Similarity of expert loads, ") +
                  collector::layerStackName(matrix.stack) + " (cosine / JS divergence)");
    }
  }
}

void addSweep(ReportDocument& document, const SweepInput& sweep, const ReportOptions& options) {
  addSweepOverview(document, sweep, options);
  const auto representatives = representativeRuns(sweep.runs, options);
  for (const RunInput* run : representatives) {
    // A static run whose model also has a dynamic representative shows only its capacity.
    bool twin = false;
    for (const RunInput* other : representatives) {
      twin = twin || (other != run && other->manifest.config.value("gating", "") == "dynamic" &&
                      other->manifest.config.value("preset", "") ==
                          run->manifest.config.value("preset", "") &&
                      other->trained() == run->trained());
    }
    const bool capacityOnly = twin && run->manifest.config.value("gating", "") == "static";
    detail::addRoutingDetails(
        document, *run, 2,
        capacityOnly ? detail::RoutingCharts::CapacityOnly : detail::RoutingCharts::All);
  }
  for (const auto& run : sweep.runs) {
    if (!run.complete) detail::addRunOverview(document, run);
    detail::addBufferingAndRanks(document, run);
    if (!run.traces.empty()) detail::addTraceSection(document, run.dir, "Trace of " + run.name);
  }
  addRoutingGroups(document, sweep);
}

std::string documentTitle(const ReportInputs& inputs, const std::vector<std::string>& labels) {
  if (labels.size() != 1) return "moeprof report";
  if (!inputs.sweeps.empty()) return "moeprof report: " + labels[0];
  if (!inputs.runs.empty()) return "moeprof report: run " + inputs.runs[0].name;
  return "moeprof report: trace " + labels[0];
}

}  // namespace

ReportDocument buildReport(const std::vector<fs::path>& paths, const ReportOptions& options) {
  std::vector<std::string> labels;
  for (const auto& p : paths) labels.push_back(p.string());
  return buildReport(readReportInputs(paths), labels, options);
}

ReportDocument buildReport(const ReportInputs& inputs, const std::vector<std::string>& labels,
                           const ReportOptions& options) {
  ReportDocument document;
  document.title = documentTitle(inputs, labels);
  document.tool = collector::toolVersion();
  document.inputs = labels;
  document.warnings = inputs.warnings;
  for (const auto& sweep : inputs.sweeps) addSweep(document, sweep, options);
  for (const auto& run : inputs.runs) {
    detail::addRunOverview(document, run);
    detail::addRoutingDetails(document, run);
    detail::addBufferingAndRanks(document, run);
    if (!run.traces.empty()) detail::addTraceSection(document, run.dir, "Trace of " + run.name);
  }
  for (const auto& trace : inputs.traces) {
    document.section("Trace " + trace.file.filename().string());
    detail::addTraceSection(document, trace.file, "Summary of " + trace.file.string());
  }
  document.uniquifyChartIds();
  return document;
}

}  // namespace moeprof::reports
