#pragma once
// `moeprof report`: reads run directories, sweeps, reproduce directories and traces
// (report_inputs.h) and builds one document (report_document.h) with tables and charts
// (report_charts.h) from what analysis/ computes. writeReport (report_writers.h) writes it.
#include <filesystem>
#include <string>
#include <vector>

#include "reports/report_charts.h"
#include "reports/report_document.h"
#include "reports/report_inputs.h"

namespace moeprof::reports {

struct ReportOptions {
  // Routing details (heatmaps, padding and drops, miss rates, placement) for every run of a
  // sweep; by default for one static and one dynamic run per workload (the largest batch,
  // trained weights first), which keeps a reproduce report a few MB.
  bool everyRun = false;
};

// Every input is read (and checked) before the document is built; throws InputError naming the
// bad path. `labels` are the inputs as the user wrote them (for the document's header).
ReportDocument buildReport(const std::vector<std::filesystem::path>& inputs,
                           const ReportOptions& options = {});
ReportDocument buildReport(const ReportInputs& inputs, const std::vector<std::string>& labels,
                           const ReportOptions& options = {});

}  // namespace moeprof::reports
