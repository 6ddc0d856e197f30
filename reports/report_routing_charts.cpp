// Charts of recorded routing: expert heatmaps, static gating's padding and drops, cache miss
// rates, placement loads, and expert loads across LM domains and MT languages.
#include <algorithm>
#include <cmath>

#include "analysis/placement_simulation.h"
#include "reports/paper_figures.h"
#include "reports/report_charts.h"
#include "reports/table.h"

namespace moeprof::reports {

using charts::Chart;
using charts::Series;
using charts::SeriesStyle;

namespace {

std::string layerLabel(const collector::MoeLayerInfo& layer) {
  static const char* names[] = {"lm", "enc", "dec"};
  return std::string(names[static_cast<int>(layer.stack)]) + " " + std::to_string(layer.blockIndex);
}

std::vector<std::string> expertCategories(uint32_t experts) {
  std::vector<std::string> out;
  for (uint32_t e = 0; e < experts; ++e) out.push_back(std::to_string(e));
  return out;
}

Chart heatmapChart(const std::string& id, const std::string& title) {
  Chart c;
  c.kind = charts::ChartKind::Heatmap;
  c.id = id;
  c.title = title;
  c.heatmap.valueLabel = "tokens";
  c.heatmap.idleLabel = "idle (no token)";
  return c;
}

// Log colours when a few cells dwarf the typical one (skewed routing: a few hot experts).
void logScaleWhenSkewed(Chart& c) {
  std::vector<double> positive;
  for (double v : c.heatmap.values) {
    if (v > 0) positive.push_back(v);
  }
  if (positive.empty()) return;
  const auto middle = positive.begin() + static_cast<std::ptrdiff_t>(positive.size() / 2);
  std::nth_element(positive.begin(), middle, positive.end());
  const double top = *std::max_element(positive.begin(), positive.end());
  c.heatmap.logScale = top >= 10 * *middle;
}

std::string passLabel(const std::pair<uint32_t, uint32_t>& key, bool steps) {
  return "b" + std::to_string(key.first) + (steps ? " s" + std::to_string(key.second) : "");
}

}  // namespace

Chart passHeatmap(const analysis::RoutingLoads& loads, const std::string& run) {
  std::pair<uint32_t, uint32_t> first{UINT32_MAX, 0};
  for (const auto& layer : loads.layers) {
    if (!layer.rows.empty()) first.first = std::min(first.first, layer.rows.front().first);
  }
  Chart c = heatmapChart("heatmap-pass-" + run, "Tokens per expert and layer, one forward pass");
  c.caption = run + ", batch " + std::to_string(first.first) +
              " (decoder: its first step); token-expert assignments, dropped ones included";
  c.x = {"expert", "", false, {}, {}, expertCategories(loads.numExperts)};
  c.y.label = "MoE layer";
  c.heatmap.columns = loads.numExperts;
  for (const auto& layer : loads.layers) {
    c.y.categories.push_back(layerLabel(layer.layer));
    auto it = std::find(layer.rows.begin(), layer.rows.end(), first);
    for (uint32_t e = 0; e < loads.numExperts; ++e) {
      c.heatmap.values.push_back(
          it == layer.rows.end() ? 0.0 : layer.tokens[size_t(it - layer.rows.begin())][e]);
    }
  }
  c.heatmap.rows = loads.layers.size();
  charts::binHeatmapColumns(c, kMaxHeatmapColumns);
  logScaleWhenSkewed(c);
  return c;
}

Chart layerPassHeatmap(const analysis::RoutingLoads& loads,
                       const analysis::RoutingStatistics& statistics, const std::string& run) {
  size_t chosen = 0;
  for (size_t l = 1; l < loads.layers.size(); ++l) {
    const size_t passes = loads.layers[l].rows.size(), best = loads.layers[chosen].rows.size();
    if (passes > best || (passes == best && l < statistics.layers.size() &&
                          statistics.layers[l].gini > statistics.layers[chosen].gini)) {
      chosen = l;
    }
  }
  const auto& layer = loads.layers.at(chosen);
  const bool steps = layer.layer.stack == collector::LayerStack::Decoder;
  Chart c = heatmapChart("heatmap-layer-" + run,
                         "Tokens per expert and pass, MoE layer " + layerLabel(layer.layer));
  c.caption = run + ": every pass through the layer with the most passes";
  if (chosen < statistics.layers.size()) {
    const auto& s = statistics.layers[chosen];
    c.caption += " (Gini " + formatNumber(s.gini, 2) + ", idle per pass " +
                 std::to_string(std::lround(s.inactivePerPass * 100)) + "%";
    if (auto paper = paperValue("idle_share", "mt", "decoder"); paper && steps) {
      c.caption += "; paper, MT decoder: " + std::to_string(std::lround(*paper * 100)) + "%";
    }
    c.caption += ")";
  }
  c.x.label = steps ? "pass (batch, decoding step)" : "pass (batch)";
  for (const auto& key : layer.rows) c.x.categories.push_back(passLabel(key, steps));
  c.y = {"expert", "", false, {}, {}, expertCategories(loads.numExperts)};
  c.heatmap.rows = loads.numExperts;
  c.heatmap.columns = layer.rows.size();
  c.heatmap.values.assign(c.heatmap.rows * c.heatmap.columns, 0.0);
  for (size_t p = 0; p < layer.rows.size(); ++p) {
    for (uint32_t e = 0; e < loads.numExperts; ++e) {
      c.heatmap.values[e * c.heatmap.columns + p] = layer.tokens[p][e];
    }
  }
  charts::binHeatmapRows(c, kMaxHeatmapRows);
  charts::binHeatmapColumns(c, kMaxHeatmapColumns);
  logScaleWhenSkewed(c);
  return c;
}

namespace {

Chart capacityChart(const std::vector<analysis::CapacityCounts>& counts,
                    std::vector<std::string> categories, const std::string& id,
                    const std::string& title) {
  Chart c;
  c.kind = charts::ChartKind::Bars;
  c.id = id;
  c.title = title;
  c.y = {"assignments or slots", "", false, {}, {}, {}};
  c.x.categories = std::move(categories);
  Series kept{"kept tokens", SeriesStyle::Bars, {}, 2};
  Series padding{"padding (empty slots computed)", SeriesStyle::Bars, {}, 1};
  Series dropped{"dropped assignments", SeriesStyle::Bars, {}, 3};
  for (size_t i = 0; i < counts.size(); ++i) {
    kept.data.push_back({double(i), double(counts[i].kept), {}, {}});
    padding.data.push_back({double(i), double(counts[i].padding), {}, {}});
    dropped.data.push_back({double(i), double(counts[i].dropped), {}, {}});
  }
  c.series = {kept, padding, dropped};
  binBarCategories(c, kMaxBarCategories);
  return c;
}

std::string capacityCaption(const analysis::CapacityUsage& usage, const std::string& run) {
  const auto& t = usage.total;
  const double waste = t.kept > 0 ? double(t.slots()) / double(t.kept) : 0.0;
  return run + ": " + std::to_string(t.slots()) + " slots computed for " + std::to_string(t.kept) +
         " tokens (" + formatRatio(waste) + "), " + std::to_string(t.dropped) +
         " assignments dropped";
}

}  // namespace

Chart capacityPerExpertChart(const analysis::CapacityUsage& usage, const std::string& run) {
  Chart c = capacityChart(usage.perExpert, expertCategories(usage.numExperts),
                          "capacity-expert-" + run, "Static gating: padding and drops per expert");
  c.x.label = "expert" + c.x.label;
  c.caption = capacityCaption(usage, run) + "; summed over layers and passes";
  return c;
}

Chart capacityPerBatchChart(const analysis::CapacityUsage& usage, const std::string& run) {
  std::vector<std::string> batches;
  for (uint32_t b : usage.batches) batches.push_back(std::to_string(b));
  Chart c = capacityChart(usage.perBatch, batches, "capacity-batch-" + run,
                          "Static gating: padding and drops per batch");
  c.x.label = "measured batch" + c.x.label;
  c.caption = capacityCaption(usage, run) + "; summed over layers, experts and steps";
  return c;
}

Chart missRateChart(const analysis::CacheSimulation& simulation, const std::string& stack,
                    const std::string& run) {
  Chart c;
  c.kind = charts::ChartKind::Xy;
  c.id = "miss-rate-" + stack + "-" + run;
  c.title = "Expert Buffering miss rate, " + stack + " layers";
  c.caption = run + ": routing replayed through a cache of N slots per MoE layer (" +
              std::to_string(simulation.numRecords) + " records); Belady's optimum is the floor";
  if (const auto* paper = findPaperFigure("miss_rate", "mt", "decoder"); paper) {
    c.caption += "; paper (MT decoder): " + paper->text;
  }
  c.x = {"slots per layer", "", false, {}, {}, {}};
  c.y = {"miss rate", "", false, 0.0, 1.0, {}};
  int colour = 0;
  for (const auto& curve : simulation.curves) {
    const bool belady = curve.policy == "belady";
    Series s{belady ? "belady (optimal floor)" : curve.policy,
             SeriesStyle::LinePoints,
             {},
             belady ? 7 : colour++,
             belady};
    for (const auto& p : curve.points) {
      s.data.push_back({double(p.slots),
                        p.counts.missRate(),
                        {},
                        std::to_string(p.counts.misses) + " misses in " +
                            std::to_string(p.counts.accesses) + " accesses"});
    }
    c.series.push_back(std::move(s));
  }
  return c;
}

Chart placementChart(const std::vector<analysis::DeviceLoads>& loads, const std::string& run) {
  Chart c;
  c.kind = charts::ChartKind::Bars;
  const auto& first = loads.front();
  const std::string stack = collector::layerStackName(first.stack);
  c.id = "placement-" + stack + "-" + run;
  c.title =
      "Tokens per device, " + stack + " layers on " + std::to_string(first.devices) + " devices";
  c.caption = run +
              ": placement chosen on the first half of the passes, judged on the second; "
              "Max Load and Avg Max Load: the largest and the mean over passes of the busiest "
              "device's share of a pass (the paper's readings; pooled: its share of all tokens; "
              "perfect: 1/" +
              std::to_string(first.devices) + ")";
  if (const auto* paper = findPaperFigure("placement", "lm", "lm"); paper) {
    c.caption += "; paper (LM): " + paper->text;
  }
  c.x.label = "device";
  for (int d = 0; d < first.devices; ++d) c.x.categories.push_back(std::to_string(d));
  c.y = {"tokens (evaluation passes)", "", false, {}, {}, {}};
  double total = 0;
  for (double t : first.tokens) total += t;
  for (const auto& l : loads) {
    Series s{l.placement + ": Max Load " + formatNumber(l.meanPerPassMaxLoad, 3) +
                 ", Avg Max Load " + formatNumber(l.meanPerPassAvgMaxLoad, 3) + ", pooled " +
                 formatNumber(l.meanPooledMaxLoad, 3),
             SeriesStyle::Bars,
             {}};
    for (size_t d = 0; d < l.tokens.size(); ++d) s.data.push_back({double(d), l.tokens[d], {}, {}});
    c.series.push_back(std::move(s));
  }
  c.referenceLines = {{total / std::max(1, first.devices), "perfect balance"}};
  return c;
}

analysis::CharacterizationOptions routingChartOptions() {
  analysis::CharacterizationOptions options;
  options.slots = {1, 2, 3, 4, 6, 8, 10, 12, 16};
  options.placements = {"roundrobin", "greedy"};
  return options;
}

std::vector<Chart> missRateCharts(const analysis::RunCharacterization& characterized,
                                  const std::string& run) {
  std::vector<Chart> found;
  for (const auto& replay : characterized.replays) {
    if (replay.caches) {
      found.push_back(missRateChart(*replay.caches, collector::layerStackName(replay.stack), run));
    }
  }
  return found;
}

namespace {

int placementDevices(uint32_t experts) {
  for (int d : {8, 4, 2}) {
    if (experts % static_cast<uint32_t>(d) == 0 && experts > static_cast<uint32_t>(d)) return d;
  }
  return 0;
}

}  // namespace

std::vector<Chart> placementCharts(const analysis::RoutingLoads& loads, const std::string& run,
                                   std::vector<std::string>& notes) {
  std::vector<Chart> found;
  const int devices = placementDevices(loads.numExperts);
  if (devices == 0) return found;
  for (auto stack : {collector::LayerStack::Lm, collector::LayerStack::Encoder,
                     collector::LayerStack::Decoder}) {
    bool present = false, enough = true;
    for (const auto& layer : loads.layers) {
      if (layer.layer.stack != stack) continue;
      present = true;
      enough = enough && layer.rows.size() >= 2;
    }
    if (!present) continue;
    if (!enough) {
      notes.push_back(std::string("Placement: the ") + collector::layerStackName(stack) +
                      " layers have fewer than 2 passes; a placement needs one half to choose on "
                      "and one to judge (record more batches with --repeats).");
      continue;
    }
    std::vector<analysis::DeviceLoads> outcomes;
    for (const char* name : {"roundrobin", "greedy", "anticorr"}) {
      outcomes.push_back(
          analysis::deviceLoads(loads, analysis::parsePlacementSpec(name), devices, stack));
    }
    found.push_back(placementChart(outcomes, run));
  }
  return found;
}

Chart domainLoadsHeatmap(
    const std::vector<std::pair<std::string, const analysis::RoutingStatistics*>>& runs,
    collector::LayerStack stack, const std::string& group) {
  const std::string stackName = collector::layerStackName(stack);
  Chart c = heatmapChart("loads-" + group + "-" + stackName,
                         "Expert loads side by side, " + group + ", " + stackName + " layers");
  c.caption =
      "Each run's share of a layer's token-expert assignments per expert; rows: layer, "
      "then run";
  c.heatmap.valueLabel = "share of the layer";
  c.heatmap.valueUnit = "%";
  c.heatmap.idleLabel = "never chosen";
  c.y.label = "layer / run";
  const uint32_t experts = runs.empty() ? 0 : runs.front().second->header.numExperts;
  c.x = {"expert", "", false, {}, {}, expertCategories(experts)};
  c.heatmap.columns = experts;
  const auto& layers = runs.front().second->layers;
  std::vector<size_t> stackLayers;
  for (size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].layer.stack == stack) stackLayers.push_back(l);
  }
  if (stackLayers.size() > kMaxLoadLayers) {  // evenly spaced, first and last included
    std::vector<size_t> chosen;
    for (size_t i = 0; i < kMaxLoadLayers; ++i) {
      chosen.push_back(stackLayers[i * (stackLayers.size() - 1) / (kMaxLoadLayers - 1)]);
    }
    c.caption += " (" + std::to_string(kMaxLoadLayers) + " of the " +
                 std::to_string(stackLayers.size()) + " layers, evenly spaced)";
    stackLayers = std::move(chosen);
  }
  for (size_t l : stackLayers) {
    for (const auto& [name, statistics] : runs) {
      if (l >= statistics->layers.size()) continue;
      c.y.categories.push_back(layerLabel(layers[l].layer) + " " + name);
      for (uint32_t e = 0; e < experts; ++e) {
        const auto& share = statistics->layers[l].loadShare;
        c.heatmap.values.push_back(e < share.size() ? share[e] * 100.0 : 0.0);
      }
    }
  }
  c.heatmap.rows = c.y.categories.size();
  charts::binHeatmapColumns(c, kMaxHeatmapColumns);
  logScaleWhenSkewed(c);
  return c;
}

}  // namespace moeprof::reports
