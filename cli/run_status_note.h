#pragma once
// What `compare` and `summary` say first about a run that did not finish: an incomplete run
// (killed, or failed) or an interrupted one (with its reason) has partial or no metrics, and
// rows of "-" or small totals must not pass for a finished run's.
#include <filesystem>
#include <string>

namespace moeprof::cli {

// "note: run DIR was interrupted (REASON): ..." or "note: run DIR is incomplete: ...", ending in
// a newline; empty for a complete run and for a path that is not a run directory (or a file in
// one, such as its trace.sqlite).
std::string runStatusNote(const std::filesystem::path& runOrFile);

}  // namespace moeprof::cli
