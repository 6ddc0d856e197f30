#pragma once
// Chart descriptions built from analysis results, one function per chart of `moeprof report`.
// They only pick, label and convert units: every number comes from analysis/ and every paper
// figure from reports/paper_figures.h. The GUI can build the same charts from the same results.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/cache_simulation.h"
#include "analysis/cache_timeline.h"
#include "analysis/capacity_usage.h"
#include "analysis/characterization.h"
#include "analysis/device_loads.h"
#include "analysis/gating_study.h"
#include "analysis/memory_timeline.h"
#include "analysis/routing_loads.h"
#include "analysis/routing_statistics.h"
#include "analysis/trace_summary.h"
#include "reports/charts/chart.h"

namespace moeprof::reports {

// Heatmaps wider or taller than this are binned (charts::binHeatmapColumns/Rows).
inline constexpr size_t kMaxHeatmapColumns = 128;
inline constexpr size_t kMaxHeatmapRows = 64;
// Bar charts with more categories than this sum neighbouring categories into bins.
inline constexpr size_t kMaxBarCategories = 64;
// The side-by-side expert loads show at most this many layers of a stack.
inline constexpr size_t kMaxLoadLayers = 6;

// "lm-tiny forward b8": how a phase point is named on an axis.
std::string pointLabel(const analysis::PhasePoint& point);

// ---- Gating study (report_gating_charts.cpp) ----------------------------------------------

// Dynamic over static throughput for every (preset, phase, batch) with both, the paper's value
// as a marker, and the 95% bootstrap interval of each gain (analysis::gainInterval) as an error
// bar where both runs kept per-unit samples. nullopt when no point has both gatings.
std::optional<charts::Chart> speedupChart(const std::vector<analysis::PhasePoint>& points);
// Milliseconds per unit in each phase (gate, dispatch, experts, combine, attention, other),
// stacked, one bar per point of one workload phase ("forward", "encoder", ...).
std::vector<charts::Chart> phaseBreakdownCharts(const std::vector<analysis::PhasePoint>& points);
// Peak weight and peak activation memory per configuration (one bar pair per run).
std::optional<charts::Chart> peakMemoryChart(const std::vector<analysis::PhasePoint>& points);

// ---- Routing (report_routing_charts.cpp) ---------------------------------------------------

// Tokens per expert in every MoE layer for one forward pass (the first measured batch, step 0).
charts::Chart passHeatmap(const analysis::RoutingLoads& loads, const std::string& run);
// Tokens per expert in every pass through one layer: the layer with the most passes (a decoder
// layer has one per step), the most skewed among those.
charts::Chart layerPassHeatmap(const analysis::RoutingLoads& loads,
                               const analysis::RoutingStatistics& statistics,
                               const std::string& run);
// Kept tokens, padding slots and dropped assignments of static gating, per expert and per batch.
charts::Chart capacityPerExpertChart(const analysis::CapacityUsage& usage, const std::string& run);
charts::Chart capacityPerBatchChart(const analysis::CapacityUsage& usage, const std::string& run);
// Miss rate against slots per policy, Belady's optimum as the floor.
charts::Chart missRateChart(const analysis::CacheSimulation& simulation, const std::string& stack,
                            const std::string& run);
// Tokens per device for each placement, with Max Load and Avg Max Load in the legend.
charts::Chart placementChart(const std::vector<analysis::DeviceLoads>& loads,
                             const std::string& run);
// What a run's routing section replays (the paper's slot sweep, 10 included), so that the GUI's
// time-range filter replays a part of the log the same way.
analysis::CharacterizationOptions routingChartOptions();
// missRateChart of every stack of a characterized run that has one.
std::vector<charts::Chart> missRateCharts(const analysis::RunCharacterization& characterized,
                                          const std::string& run);
// placementChart of round-robin, greedy and anti-correlation placement for every stack of the
// loads, on the largest device count of 8, 4, 2 that divides the experts. A stack with fewer
// than 2 passes per layer gets a line in `notes` instead (a placement chooses on one half of the
// passes and is judged on the other).
std::vector<charts::Chart> placementCharts(const analysis::RoutingLoads& loads,
                                           const std::string& run, std::vector<std::string>& notes);
// Each run's share of every expert, layer by layer, runs side by side (LM domains, MT target
// languages): rows "layer / run", columns experts; at most kMaxLoadLayers layers.
charts::Chart domainLoadsHeatmap(
    const std::vector<std::pair<std::string, const analysis::RoutingStatistics*>>& runs,
    collector::LayerStack stack, const std::string& group);

// ---- Traces (report_trace_charts.cpp) -------------------------------------------------------

// Allocated memory over time, one line per device (and per rank when ranks has more than one).
std::optional<charts::Chart> memoryTimelineChart(
    const std::vector<std::pair<std::string, std::vector<analysis::DeviceMemoryTimeline>>>& ranks,
    const std::string& title);
// Expert Buffering over time (a buffered run's trace): misses, hits, stall time and bytes moved
// per MoE layer (rows) and measured batch (columns), one heatmap each; none when the trace has
// no cache events. Ids "cache-misses-<name>", "cache-hits-", "cache-stall-", "cache-bytes-".
std::vector<charts::Chart> cacheTimelineCharts(const analysis::CacheTimeline& timeline,
                                               const std::string& name);
// Events of each kind in the trace (log scale).
charts::Chart eventCountChart(const analysis::TraceSummary& summary, const std::string& title);

// Sums neighbouring bar categories so that at most maxCategories remain (values summed,
// intervals and markers dropped; the x axis label says "bins of N, summed").
void binBarCategories(charts::Chart& chart, size_t maxCategories);

}  // namespace moeprof::reports
