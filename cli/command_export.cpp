// `moeprof export --perfetto RUN -o OUT`: a run's trace as Chrome Trace Event Format JSON for
// ui.perfetto.dev and chrome://tracing.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "analysis/trace_loader.h"
#include "cli/app.h"
#include "cli/progress.h"
#include "collector/errors.h"
#include "collector/perfetto/perfetto_writer.h"
#include "collector/store/trace_reader.h"
#include "collector/store/trace_store.h"

namespace moeprof::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kExportFooter = R"(
RUN is a run directory written by `moeprof run --trace ops|full` (its trace.sqlite is read) or a
trace.sqlite itself. OUT ending in .gz is gzip-compressed; anything else is plain JSON.

A run of several ranks (`run --ranks N`: trace.sqlite is rank 0's, trace.rankR.sqlite rank R's,
as its run.json lists) exports as one timeline of every rank: processes "rank R · host" and
"rank R · GPU D" in rank order, thread and flow ids never shared between ranks, each rank's
events exactly those of its own export, all on one time axis (CLOCK_MONOTONIC, unshifted: the
ranks of one machine share it; ranks whose META boot_id differs, i.e. other machines, are
written with a warning). --rank R exports only some ranks: repeat it or give a list (--rank 1
--rank 3, --rank 1,3). A one-rank run or a trace file alone exports as before (process "Host").

The output (Chrome Trace Event Format, JSON object form) opens in ui.perfetto.dev and
chrome://tracing:
  Host process: a track per CPU thread (operators, CUDA API calls, collector overhead), an
    NVTX track per thread ("thread T · NVTX": phase ranges, marks), "expert cache" (hit, miss,
    evict, prefetch), "expert transfers", "routing" (tokens per expert per MoE layer), and the
    counters "memory" (allocated and reserved bytes) and "expert cache ... hit_rate".
  GPU N processes: a track per CUDA stream (kernels, memcpys, memsets) and device memory.
  Flows (arrows): operator -> the kernels and copies it launched, CUDA API call -> its kernel,
    cache miss or prefetch -> its expert transfer.
  A slice that would partially overlap another on its track moves to an "overlap" track.
Details: collector/store/TRACE_STORE.md, "Perfetto export".

Writes through a temporary file beside OUT, renamed at the end: a failed export leaves no
partial file, and OUT is replaced only with --force.
Exit codes: 0 written; 1 runtime failure (I/O); 2 bad input (no format flag, RUN missing or
without a trace, not a trace store, a rank's trace missing, --rank R not a rank of RUN, OUT
exists without --force, OUT's directory missing).)";

// RUN names a run directory holding trace.sqlite, or a trace store itself.
fs::path traceStorePath(const fs::path& run) {
  std::error_code error;
  if (!fs::exists(run, error)) {
    throw InputError("run " + run.string() +
                     " does not exist; name a run directory or a trace.sqlite");
  }
  if (!fs::is_directory(run, error)) return run;
  fs::path store = run / collector::kTraceFileName;
  if (!fs::exists(store, error)) {
    throw InputError("run directory " + run.string() + " has no " + collector::kTraceFileName +
                     ": it was run with --trace off (rerun with --trace ops or --trace full)");
  }
  return store;
}

// "0, 1, 2" (ranks are numbered without gaps; long lists as "0..63").
std::string rankList(const std::vector<analysis::RankTraceFile>& ranks) {
  constexpr size_t kListedRanks = 8;
  if (ranks.size() > kListedRanks) return "0.." + std::to_string(ranks.back().rank);
  std::string text;
  for (const auto& rank : ranks) text += (text.empty() ? "" : ", ") + std::to_string(rank.rank);
  return text;
}

// The traces of the ranks asked for (all when none is), in rank order.
std::vector<analysis::RankTraceFile> selectRanks(const std::vector<analysis::RankTraceFile>& all,
                                                 const std::vector<int>& wanted,
                                                 const std::string& run) {
  if (wanted.empty()) return all;
  std::set<int> chosen;
  for (int rank : wanted) {
    if (rank < 0 || rank > all.back().rank) {
      throw InputError("--rank " + std::to_string(rank) + " is not a rank of " + run + ": " +
                       (all.size() == 1 ? "it has rank 0 only (a one-rank trace)"
                                        : "its ranks are " + rankList(all)));
    }
    chosen.insert(rank);
  }
  std::vector<analysis::RankTraceFile> selected;
  for (int rank : chosen) selected.push_back(all[static_cast<size_t>(rank)]);
  return selected;
}

// Ranks traced on different machines (or boots) have CLOCK_MONOTONIC times that do not compare;
// the export still draws them, but says so. Stores without a boot_id (older ones) are assumed to
// share the clock.
void warnIfClocksDiffer(const std::vector<analysis::RankTraceFile>& ranks,
                        const std::vector<collector::Trace>& traces) {
  const std::string* first = nullptr;
  size_t firstRank = 0;
  for (size_t i = 0; i < traces.size(); ++i) {
    auto boot = traces[i].meta.find("boot_id");
    if (boot == traces[i].meta.end()) continue;
    if (first == nullptr) {
      first = &boot->second;
      firstRank = i;
    } else if (boot->second != *first) {
      std::cerr << "warning: rank " << ranks[i].rank << " was traced on another machine or boot "
                << "than rank " << ranks[firstRank].rank << " (META boot_id " << boot->second
                << " vs " << *first << "): their times are on different clocks and do not "
                << "line up in the timeline\n";
      return;
    }
  }
}

// Everything about OUT that can be refused before the (possibly long) read of the trace.
void checkOutput(const fs::path& store, const fs::path& out, bool force) {
  std::error_code error;
  fs::path directory = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(directory, error)) {
    throw InputError("output directory " + directory.string() +
                     " does not exist (create it first)");
  }
  if (fs::is_directory(out, error)) {
    throw InputError("output " + out.string() + " is a directory; name a file (.json or .json.gz)");
  }
  if (!fs::exists(fs::symlink_status(out, error))) return;
  if (fs::equivalent(store, out, error)) {
    throw InputError("output " + out.string() + " is the trace store being exported");
  }
  if (!force) {
    throw InputError("output " + out.string() + " already exists; pass --force to replace it");
  }
}

std::string humanBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

struct ExportCommand {
  bool perfetto = false;
  std::string run;
  std::string out;
  bool force = false;
  std::vector<int> ranks;  // --rank; empty: every rank

  int execute() const {
    if (!perfetto) {
      throw InputError(
          "no export format given; the one there is: --perfetto (Chrome Trace Event JSON for "
          "ui.perfetto.dev and chrome://tracing)");
    }
    fs::path store = traceStorePath(run);
    // The summary's discovery of a run's ranks: run.json's files.rank_traces, else the files.
    std::vector<analysis::RankTraceFile> all = analysis::findRankTraces(run);
    std::vector<analysis::RankTraceFile> selected = selectRanks(all, ranks, run);
    for (const auto& rank : selected) checkOutput(rank.file, out, force);
    auto started = std::chrono::steady_clock::now();
    TerminalProgress progress;
    collector::PerfettoExportStats stats;
    if (all.size() == 1) {
      progress.update("reading " + store.string());
      collector::Trace trace = collector::TraceReader(store).readAll();
      progress.update("writing " + out);
      stats = collector::PerfettoWriter(trace).writeFile(out, force);
    } else {
      stats = writeRanks(selected, all.size(), progress);
    }
    progress.finish();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cout << "wrote " << out << ": ";
    if (all.size() > 1) std::cout << selected.size() << " of " << all.size() << " ranks, ";
    std::cout << stats.events << " events, " << stats.tracks << " tracks, " << stats.flows
              << " flows";
    if (stats.flowsDropped + stats.flowsUnbindable > 0) {
      std::cout << " (" << stats.flowsDropped << " dropped for a missing end, "
                << stats.flowsUnbindable << " unbindable)";
    }
    char time[32];
    std::snprintf(time, sizeof(time), "%.2f", seconds);
    std::cout << ", " << humanBytes(stats.bytes) << " in " << time << " s\n";
    return kExitOk;
  }

  collector::PerfettoExportStats writeRanks(const std::vector<analysis::RankTraceFile>& selected,
                                            size_t rankCount, TerminalProgress& progress) const {
    std::vector<collector::Trace> traces;
    traces.reserve(selected.size());
    for (const auto& rank : selected) {
      progress.update("reading " + rank.file.string() + " (rank " + std::to_string(rank.rank) +
                      " of " + std::to_string(rankCount) + ")");
      traces.push_back(collector::TraceReader(rank.file).readAll());
    }
    warnIfClocksDiffer(selected, traces);
    std::vector<collector::RankedTrace> ranked;
    for (size_t i = 0; i < selected.size(); ++i) ranked.push_back({selected[i].rank, &traces[i]});
    progress.update("writing " + out);
    return collector::PerfettoWriter(ranked).writeFile(out, force);
  }
};

}  // namespace

Action addExportCommand(CLI::App& app) {
  auto command = std::make_shared<ExportCommand>();
  app.add_flag("--perfetto", command->perfetto,
               "write Chrome Trace Event Format JSON (ui.perfetto.dev, chrome://tracing); "
               "required, the only format so far");
  app.add_option("RUN", command->run, "run directory (with trace.sqlite) or a trace.sqlite")
      ->required();
  app.add_option("-o,--out", command->out, "output file: .json, or .json.gz for gzip")->required();
  app.add_flag("--force", command->force, "replace OUT if it exists");
  app.add_option("--rank", command->ranks,
                 "export only these ranks of a multi-rank run (repeat it or give a list: 0,2); "
                 "default: every rank")
      ->delimiter(',')
      ->allow_extra_args(false);
  app.footer(kExportFooter);
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
