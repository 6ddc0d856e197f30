#pragma once
// The one way front ends (CLI, reports, GUI) read a trace: a moeprof run directory, its
// trace.sqlite, or an Nsight Systems SQLite export, all as one collector::Trace.
#include <filesystem>
#include <vector>

#include "collector/trace_events.h"

namespace moeprof::analysis {

// `runOrFile` is a run directory (its trace.sqlite is read), a moeprof trace store (an SQLite
// file with a META table, read by collector::TraceReader) or an Nsight Systems export (read by
// importNsysExport). A moeprof trace gets meta "source" = "moeprof" unless it names its own.
// Throws InputError naming the path, and what is accepted, when it is none of these: missing,
// a directory without trace.sqlite (a run made with --trace off), not SQLite, another SQLite
// database, or a store of another schema version.
collector::Trace loadTrace(const std::filesystem::path& runOrFile);

// One rank's trace of a run: rank 0's is trace.sqlite, rank R's trace.rankR.sqlite.
struct RankTrace {
  int rank = 0;
  std::filesystem::path file;
  collector::Trace trace;
};

// Where one rank's trace of a run is, before it is read.
struct RankTraceFile {
  int rank = 0;
  std::filesystem::path file;
};

// The trace file of every rank of `runOrFile`, in rank order, without reading them. A run
// directory's ranks are those its run.json lists under files.rank_traces (an N-rank run; only
// trace.sqlite when it lists none), and without a run.json trace.sqlite and any
// trace.rankR.sqlite beside it; a file alone is rank 0. Throws InputError
// naming the path when it does not exist or a directory has no trace.sqlite, and naming the file
// when a listed rank's trace is missing or the ranks found have a gap.
std::vector<RankTraceFile> findRankTraces(const std::filesystem::path& runOrFile);

// Every rank's trace of `runOrFile` (the files findRankTraces finds), in rank order, each read
// by loadTrace. Throws InputError as those two do.
std::vector<RankTrace> loadRankTraces(const std::filesystem::path& runOrFile);

// The ranks' events in one Trace, rank after rank (they share the machine's monotonic clock, so
// times line up; thread ids are the kernel's, distinct across processes). Meta is rank 0's with
// "ranks" set to their count.
collector::Trace mergeRankTraces(const std::vector<RankTrace>& ranks);

}  // namespace moeprof::analysis
