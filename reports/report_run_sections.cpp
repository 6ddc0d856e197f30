// The sections of one run: overview, routing details, Expert Buffering and expert parallelism.
#include <algorithm>

#include "analysis/characterization.h"
#include "reports/characterization_report.h"
#include "reports/gating_report.h"
#include "reports/paper_figures.h"
#include "reports/report_sections.h"

namespace moeprof::reports::detail {

namespace {

using nlohmann::json;

std::string configText(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return "";
  if (it->is_object()) {  // e.g. buffering: "policy lifo, slots_per_layer 4, ..."
    std::string text;
    for (const auto& [k, v] : it->items()) {
      text +=
          (text.empty() ? "" : ", ") + k + " " + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    return "(" + text + ")";
  }
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string runSummary(const RunInput& run) {
  const json& c = run.manifest.config;
  std::string text = "Preset " + configText(c, "preset") + " (" + configText(c, "workload") + ")";
  if (run.trained()) text += " on the trained checkpoint " + configText(c, "checkpoint");
  for (const auto& [key, name] : {std::pair{"gating", "gating"},
                                  {"batch", "batch"},
                                  {"capacity_factor", "capacity factor"},
                                  {"buffering", "buffering"},
                                  {"placement", "placement"},
                                  {"ranks", "ranks"},
                                  {"device", "device"},
                                  {"threads", "threads"},
                                  {"repeats", "repeats"}}) {
    const std::string value = configText(c, key);
    if (!value.empty()) text += ", " + std::string(name) + " " + value;
  }
  text += ". Recorded " + run.manifest.createdAt + " by " + run.manifest.tool;
  const std::string git = configText(run.manifest.environment, "git_revision");
  if (!git.empty()) text += " (git " + git + ")";
  return text + "; status " + (run.complete ? "complete." : "INCOMPLETE.");
}

void addCapacityCharts(ReportSection& s, const RunInput& run) {
  const json& c = run.manifest.config;
  if (configText(c, "gating") != "static") return;
  analysis::CapacityRule rule;
  rule.capacityFactor = c.value("capacity_factor", 1.0);
  rule.mode = c.value("capacity_mode", std::string("eval"));
  const auto usage = analysis::capacityUsage(*run.routing, rule);
  s.chart(capacityPerExpertChart(usage, run.name));
  s.chart(capacityPerBatchChart(usage, run.name));
}

}  // namespace

void addRunOverview(ReportDocument& document, const RunInput& run) {
  auto& s = document.section("Run " + run.name);
  s.paragraph(runSummary(run));
  if (!run.complete) {
    s.note(
        "This run is incomplete: it stopped before writing its metrics. What it recorded "
        "(routing, trace) is shown below as far as it goes.");
    return;
  }
  s.table(sweepTable(run.points), "Measured phases");
  s.table(phaseBreakdownTable(run.points), "Milliseconds per unit in each phase");
  for (auto& chart : phaseBreakdownCharts(run.points)) {
    chart.id += "-" + run.name;
    s.chart(std::move(chart));
  }
  if (auto chart = peakMemoryChart(run.points)) {
    chart->id += "-" + run.name;
    s.chart(std::move(*chart));
  }
}

void addRoutingDetails(ReportDocument& document, const RunInput& run, int level,
                       RoutingCharts which) {
  if (!run.routing || run.routing->records.empty()) return;
  auto& s = document.section("Routing of " + run.name, level);
  if (!run.routingProblem.empty()) {
    s.note("The routing log stops early (" + run.routingProblem + "); " +
           std::to_string(run.routing->records.size()) + " records before that are shown.");
  }
  if (which == RoutingCharts::CapacityOnly) {
    s.paragraph(
        "Static gating routes as the dynamic run of this model does; what differs is "
        "the capacity: the slots computed without a token and the assignments dropped.");
    addCapacityCharts(s, run);
    return;
  }
  const auto rc = analysis::characterizeLog(*run.routing, analysis::readRunLabel(run.dir),
                                            routingChartOptions());
  const auto loads = analysis::routingLoads(*run.routing);
  analysis::Characterization single;
  single.runs = {rc};
  s.table(routingTable(single), "Routing statistics per stack (run #1)");
  s.chart(passHeatmap(loads, run.name));
  s.chart(layerPassHeatmap(loads, rc.statistics, run.name));
  addCapacityCharts(s, run);
  for (auto& chart : missRateCharts(rc, run.name)) s.chart(std::move(chart));
  std::vector<std::string> notes;
  for (auto& chart : placementCharts(loads, run.name, notes)) s.chart(std::move(chart));
  for (const auto& note : notes) s.note(note);
}

namespace {

Table bufferingTable(const json& b) {
  Table t({"metric", "value", "paper"}, {Align::Left, Align::Right, Align::Right});
  const std::vector<std::pair<const char*, const char*>> rows = {
      {"policy", "eviction policy"},
      {"prefetch", "prefetch"},
      {"slots_per_layer", "slots per layer"},
      {"accesses", "expert accesses"},
      {"hits", "hits"},
      {"misses", "misses"},
      {"miss_rate", "miss rate"},
      {"evictions", "evictions"},
      {"bytes_moved", "bytes moved"},
      {"transfer_ms", "transfer time (ms)"},
      {"stall_ms", "stall time (ms)"},
      {"prefetch_precision", "prefetch precision"},
      {"prefetch_recall", "prefetch recall"},
      {"achieved_bandwidth_gbps", "achieved bandwidth (GB/s)"},
      {"static_memory_reduction", "static memory reduction"}};
  for (const auto& [key, name] : rows) {
    auto it = b.find(key);
    if (it == b.end()) continue;
    std::string value = it->is_number()   ? formatNumber(it->get<double>(), 4)
                        : it->is_string() ? it->get<std::string>()
                                          : it->dump();
    if (std::string(key) == "bytes_moved" && it->is_number())
      value = formatBytes(it->get<double>());
    std::string paper = "-";
    if (std::string(key) == "static_memory_reduction") {
      if (auto v = paperValue("buffering_memory_gain", "mt", "")) paper = formatRatio(*v);
    }
    t.addRow({name, value, paper});
  }
  return t;
}

// Expert rows each rank received, summed over units, per phase.
charts::Chart rankRowsChart(const json& parallel, const std::string& run) {
  charts::Chart c;
  c.kind = charts::ChartKind::Bars;
  c.id = "rank-rows-" + run;
  c.title = "Expert rows received per rank";
  c.x.label = "rank";
  c.y = {"expert rows (all units)", "", false, {}, {}, {}};
  const json& metrics = parallel.value("placement_metrics", json::object());
  c.caption = run + ": placement " + parallel.value("placement", std::string("?")) + ", Max Load " +
              formatNumber(metrics.value("max_load", 0.0), 3) + ", Avg Max Load " +
              formatNumber(metrics.value("avg_max_load", 0.0), 3) + " (perfect " +
              formatNumber(metrics.value("perfect_balance", 0.0), 3) + ")";
  const int ranks = parallel.value("ranks", 0);
  for (int r = 0; r < ranks; ++r) c.x.categories.push_back(std::to_string(r));
  const json phases = parallel.value("phases", json::object());  // iterated: must outlive the loop
  for (const auto& [phase, values] : phases.items()) {
    charts::Series s{phase, charts::SeriesStyle::Bars, {}};
    const json& perRank = values.value("expert_rows_received_per_rank_per_unit", json::array());
    for (size_t r = 0; r < perRank.size(); ++r) {
      double sum = 0;
      for (const auto& v : perRank[r]) sum += v.get<double>();
      s.data.push_back({double(r), sum, {}, {}});
    }
    c.series.push_back(std::move(s));
  }
  return c;
}

}  // namespace

void addBufferingAndRanks(ReportDocument& document, const RunInput& run) {
  const json& metrics = run.manifest.metrics;
  if (auto it = metrics.find("buffering"); it != metrics.end() && it->is_object()) {
    auto& s = document.section("Expert Buffering of " + run.name, 3);
    s.table(bufferingTable(*it), "Expert Buffering, measured live (run.json metrics.buffering)");
  }
  if (auto it = metrics.find("expert_parallel"); it != metrics.end() && it->is_object()) {
    auto& s = document.section("Expert parallelism of " + run.name, 3);
    s.chart(rankRowsChart(*it, run.name));
  }
}

}  // namespace moeprof::reports::detail
