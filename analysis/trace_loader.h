#pragma once
// The one way front ends (CLI, reports, GUI) read a trace: a moeprof run directory, its
// trace.sqlite, or an Nsight Systems SQLite export, all as one collector::Trace.
#include <filesystem>

#include "collector/trace_events.h"

namespace moeprof::analysis {

// `runOrFile` is a run directory (its trace.sqlite is read), a moeprof trace store (an SQLite
// file with a META table, read by collector::TraceReader) or an Nsight Systems export (read by
// importNsysExport). A moeprof trace gets meta "source" = "moeprof" unless it names its own.
// Throws InputError naming the path, and what is accepted, when it is none of these: missing,
// a directory without trace.sqlite (a run made with --trace off), not SQLite, another SQLite
// database, or a store of another schema version.
collector::Trace loadTrace(const std::filesystem::path& runOrFile);

}  // namespace moeprof::analysis
