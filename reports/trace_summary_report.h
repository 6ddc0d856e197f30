#pragma once
// Renders a trace summary (analysis::TraceSummary) as tables for terminals and as JSON for
// scripts. `moeprof summary` prints these.
#include <string>

#include "analysis/trace_summary.h"
#include "reports/table.h"

namespace moeprof::reports {

// kernel | launches | total ms | mean us | share. Names longer than kMaxNameWidth code points
// are cut with "..." so that a templated kernel name cannot stretch the table off the screen.
Table kernelSummaryTable(const analysis::TraceSummary& summary);
// copy kind | copies | bytes | total ms | GB/s (decimal gigabytes per second while copying)
Table copySummaryTable(const analysis::TraceSummary& summary);
// domain | range | count | total ms | mean us
Table rangeSummaryTable(const analysis::TraceSummary& summary);
// operator | calls | total ms | self ms
Table operatorSummaryTable(const analysis::TraceSummary& summary);
// device | peak allocated | peak reserved
Table memoryPeakTable(const analysis::TraceSummary& summary);
// events | count, for the kinds the trace has
Table eventCountTable(const analysis::TraceSummary& summary);

inline constexpr size_t kMaxNameWidth = 80;

// The header (trace label, source, span, GPUs) and every table that has rows, each under a
// title; kinds without events get a one-line note instead.
std::string traceSummaryText(const analysis::TraceSummary& summary, const std::string& label);

// {"trace", "source", "span_ns": {"start", "end", "duration"}, "meta", "kernels": {"count",
// "total_ns", "omitted", "top": [{"name", "count", "total_ns", "mean_ns", "share"}]},
// "copies": [{"kind", "copy_kind", "count", "bytes", "total_ns", "bytes_per_s"}],
// "ranges": {"marks", "omitted", "top": [{"domain", "text", "count", "total_ns", "mean_ns"}]},
// "operators": {"omitted", "top": [{"name", "count", "total_ns", "self_ns"}]},
// "memory_peaks": [{"device_type", "device_index", "peak_allocated_bytes",
// "peak_reserved_bytes"}], "event_counts": {kind: count}}. Names are never cut. Pretty-printed
// with a 2-space indent, ending in a newline.
std::string traceSummaryJson(const analysis::TraceSummary& summary, const std::string& label);

// rank | trace | span ms | operators | operator ms (self times summed) | NVTX ranges | kernels |
// GPU ms | transfers | transfer bytes | peak allocated (the largest device's), one row per rank.
Table rankSummaryTable(const analysis::RankedTraceSummary& summary);

inline constexpr size_t kMaxRankColumns = 8;  // rank columns beyond these are left out

// A single trace: traceSummaryText of it. Several ranks: the header with the rank count, the
// rank table, then the merged tables with one column per rank (the first kMaxRankColumns):
// kernels and NVTX ranges with each rank's total ms, operators with each rank's self ms.
// Memory peaks of the merged trace are the largest rank's (ranks are processes of their own).
std::string rankedTraceSummaryText(const analysis::RankedTraceSummary& summary,
                                   const std::string& label);

// A single trace: traceSummaryJson. Several ranks: the same object for the merged trace, plus
// "ranks": [{"rank", "file", then traceSummaryJson's keys for that rank's trace alone, with the
// same top N rows}].
std::string rankedTraceSummaryJson(const analysis::RankedTraceSummary& summary,
                                   const std::string& label);

}  // namespace moeprof::reports
