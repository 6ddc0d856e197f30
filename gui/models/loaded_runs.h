#pragma once
// Everything the dashboard shows about the paths a user opened, read once off the GUI thread:
// the report's inputs and document (the same tables and chart descriptions `moeprof report`
// writes), the routing loads of every run that has a routing log, and the timeline of the first
// trace. Every number comes from analysis/ through reports/; nothing here computes a metric.
#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/cache_timeline.h"
#include "analysis/routing_loads.h"
#include "gui/models/timeline_data.h"
#include "reports/report_document.h"
#include "reports/report_inputs.h"

namespace moeprof::gui {

// The routing of one run, by the run's name ("lm-tiny-dynamic-b8", "routing/lm-trained/code").
struct RunRouting {
  std::string run{};
  std::filesystem::path dir{};
  analysis::RoutingLoads loads{};
};

struct LoadedRuns {
  std::vector<std::filesystem::path> paths{};
  reports::ReportInputs inputs{};
  reports::ReportDocument document{};
  std::vector<RunRouting> routings{};
  std::optional<TimelineData> timeline{};   // the first trace found
  analysis::CacheTimeline cacheTimeline{};  // of that trace's first rank (empty unless
                                            // buffered)
  std::string tracedRun{};  // whose: the run directory's name ("-rankR" with several ranks)
  std::vector<std::filesystem::path> runDirs{};  // every run directory, for the Compare view

  // The charts of the document whose id starts with one of `prefixes`, in document order.
  std::vector<const charts::Chart*> chartsWithIdPrefix(
      const std::vector<std::string>& prefixes) const;
  // The first table of every section whose title starts with `prefix`, with that title.
  std::vector<std::pair<std::string, const reports::Table*>> sectionTables(
      const std::string& prefix) const;
};

// The Cache and Placement views' charts for the forward passes of a time range: the routing of
// every run those views show, replayed over the passes (batch, step) only, and the traced run's
// cache over their batches. Built by the report's chart functions, like the whole-run charts.
struct PassCharts {
  std::vector<charts::Chart> cache{};
  std::vector<charts::Chart> placement{};
  std::vector<std::string> notes{};
};
PassCharts chartsForPasses(const LoadedRuns& loaded,
                           const std::vector<std::pair<uint32_t, uint32_t>>& passes);

// How a long load reports progress and learns that the user cancelled it.
struct LoadProgress {
  std::function<void(int percent, const std::string& step)> report{};
  const std::atomic<bool>* cancelled = nullptr;
};

// Thrown by loadRuns when LoadProgress::cancelled was set.
struct LoadCancelled {};

// Reads and analyses `paths` (what `moeprof report` accepts). Throws InputError naming a bad
// path (missing, not a run, corrupt file), LoadCancelled when cancelled.
LoadedRuns loadRuns(const std::vector<std::filesystem::path>& paths,
                    const LoadProgress& progress = {});

}  // namespace moeprof::gui
