#include "analysis/trace_loader.h"

#include <sqlite3.h>

#include <system_error>

#include "analysis/nsys_import.h"
#include "collector/errors.h"
#include "collector/sqlite_statement.h"
#include "collector/trace_reader.h"
#include "collector/trace_store.h"

namespace moeprof::analysis {

namespace {

constexpr const char* kAccepted =
    "expected a moeprof run directory, its trace.sqlite, or an Nsight Systems SQLite export "
    "(nsys export --type sqlite)";

// Whether the file is a moeprof trace store (META is the table nsys never writes). Files that
// cannot be opened as SQLite are left for importNsysExport to reject with the full message.
bool hasMetaTable(const std::filesystem::path& file) {
  try {
    auto db = collector::sqlite::openConnection(file, SQLITE_OPEN_READONLY);
    return collector::sqlite::tableExists(db.get(), "META");
  } catch (const collector::sqlite::SqliteError&) {
    return false;
  }
}

}  // namespace

collector::Trace loadTrace(const std::filesystem::path& runOrFile) {
  std::error_code ignored;
  if (!std::filesystem::exists(runOrFile, ignored)) {
    throw InputError(runOrFile.string() + " does not exist; " + kAccepted);
  }
  std::filesystem::path file = runOrFile;
  if (std::filesystem::is_directory(runOrFile, ignored)) {
    file = runOrFile / collector::kTraceFileName;
    if (!std::filesystem::exists(file, ignored)) {
      throw InputError("run directory " + runOrFile.string() + " has no " +
                       collector::kTraceFileName +
                       " (runs record one with --trace ops or --trace full); " + kAccepted);
    }
  }
  if (!hasMetaTable(file)) return importNsysExport(file);
  collector::Trace trace = collector::TraceReader(file).readAll();
  trace.meta.try_emplace("source", "moeprof");
  return trace;
}

}  // namespace moeprof::analysis
