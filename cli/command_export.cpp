// `moeprof export --perfetto RUN -o OUT`: a run's trace as Chrome Trace Event Format JSON for
// ui.perfetto.dev and chrome://tracing.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "cli/app.h"
#include "cli/progress.h"
#include "collector/errors.h"
#include "collector/perfetto_writer.h"
#include "collector/trace_reader.h"
#include "collector/trace_store.h"

namespace moeprof::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kExportFooter = R"(
RUN is a run directory written by `moeprof run --trace ops|full` (its trace.sqlite is read) or a
trace.sqlite itself. OUT ending in .gz is gzip-compressed; anything else is plain JSON.

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
Details: collector/TRACE_STORE.md, "Perfetto export".

Writes through a temporary file beside OUT, renamed at the end: a failed export leaves no
partial file, and OUT is replaced only with --force.
Exit codes: 0 written; 1 runtime failure (I/O); 2 bad input (no format flag, RUN missing or
without a trace, not a trace store, OUT exists without --force, OUT's directory missing).)";

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

  int execute() const {
    if (!perfetto) {
      throw InputError(
          "no export format given; the one there is: --perfetto (Chrome Trace Event JSON for "
          "ui.perfetto.dev and chrome://tracing)");
    }
    fs::path store = traceStorePath(run);
    checkOutput(store, out, force);
    auto started = std::chrono::steady_clock::now();
    TerminalProgress progress;
    progress.update("reading " + store.string());
    collector::Trace trace = collector::TraceReader(store).readAll();
    progress.update("writing " + out);
    collector::PerfettoWriter writer(trace);
    collector::PerfettoExportStats stats = writer.writeFile(out, force);
    progress.finish();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cout << "wrote " << out << ": " << stats.events << " events, " << stats.tracks
              << " tracks, " << stats.flows << " flows";
    if (stats.flowsDropped + stats.flowsUnbindable > 0) {
      std::cout << " (" << stats.flowsDropped << " dropped for a missing end, "
                << stats.flowsUnbindable << " unbindable)";
    }
    char time[32];
    std::snprintf(time, sizeof(time), "%.2f", seconds);
    std::cout << ", " << humanBytes(stats.bytes) << " in " << time << " s\n";
    return kExitOk;
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
  app.footer(kExportFooter);
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
