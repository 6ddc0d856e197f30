#include "analysis/trace_loader.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <system_error>

#include "analysis/nsys_import.h"
#include "collector/errors.h"
#include "collector/run_manifest.h"
#include "collector/store/sqlite_statement.h"
#include "collector/store/trace_reader.h"
#include "collector/store/trace_store.h"

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

namespace {

// The rank trace files a run directory's run.json lists, in rank order: only trace.sqlite when
// it lists none (a 1-rank run), so that no stray trace.rankR.sqlite beside it is merged in;
// nullopt without a run.json.
std::optional<std::vector<std::filesystem::path>> listedRankTraces(
    const std::filesystem::path& run) {
  std::error_code ignored;
  if (!std::filesystem::exists(run / "run.json", ignored)) return std::nullopt;
  const nlohmann::json files = collector::readManifest(run).files;
  auto listed = files.find("rank_traces");
  if (listed == files.end() || !listed->is_array()) {
    return std::vector<std::filesystem::path>{run / collector::kTraceFileName};
  }
  std::vector<std::filesystem::path> traces;
  for (const auto& name : *listed) {
    if (!name.is_string()) {
      throw InputError(run.string() + "/run.json: files.rank_traces holds " + name.dump() +
                       ", not a file name");
    }
    traces.push_back(run / name.get<std::string>());
  }
  return traces;
}

// trace.sqlite and the trace.rankR.sqlite files beside it, by rank; a gap is an error.
std::vector<std::filesystem::path> foundRankTraces(const std::filesystem::path& run) {
  static const std::regex kRankFile(R"(trace\.rank([0-9]{1,6})\.sqlite)");
  std::map<int, std::filesystem::path> byRank{{0, run / collector::kTraceFileName}};
  for (const auto& entry : std::filesystem::directory_iterator(run)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, match, kRankFile)) byRank[std::stoi(match[1].str())] = entry.path();
  }
  std::vector<std::filesystem::path> traces;
  for (const auto& [rank, file] : byRank) {
    if (rank != static_cast<int>(traces.size())) {
      throw InputError("run directory " + run.string() + " has " + file.filename().string() +
                       " but no trace of rank " + std::to_string(traces.size()) + " (trace.rank" +
                       std::to_string(traces.size()) + ".sqlite)");
    }
    traces.push_back(file);
  }
  return traces;
}

}  // namespace

std::vector<RankTraceFile> findRankTraces(const std::filesystem::path& runOrFile) {
  std::error_code ignored;
  if (!std::filesystem::exists(runOrFile, ignored)) {
    throw InputError(runOrFile.string() + " does not exist; " + kAccepted);
  }
  if (!std::filesystem::is_directory(runOrFile, ignored)) return {{0, runOrFile}};
  if (!std::filesystem::exists(runOrFile / collector::kTraceFileName, ignored)) {
    throw InputError("run directory " + runOrFile.string() + " has no " +
                     collector::kTraceFileName +
                     " (runs record one with --trace ops or --trace full); " + kAccepted);
  }
  auto listed = listedRankTraces(runOrFile);
  auto files = listed && !listed->empty() ? *listed : foundRankTraces(runOrFile);
  std::vector<RankTraceFile> ranks{{0, runOrFile / collector::kTraceFileName}};
  for (size_t r = 1; r < files.size(); ++r) {
    if (!std::filesystem::exists(files[r], ignored)) {
      throw InputError("run directory " + runOrFile.string() + " lists " +
                       files[r].filename().string() + " (the trace of rank " + std::to_string(r) +
                       ") in run.json, but it is missing");
    }
    ranks.push_back({static_cast<int>(r), files[r]});
  }
  return ranks;
}

std::vector<RankTrace> loadRankTraces(const std::filesystem::path& runOrFile) {
  std::vector<RankTrace> ranks;
  for (const RankTraceFile& rank : findRankTraces(runOrFile)) {
    ranks.push_back({rank.rank, rank.file, loadTrace(rank.file)});
  }
  return ranks;
}

collector::Trace mergeRankTraces(const std::vector<RankTrace>& ranks) {
  collector::Trace merged;
  if (ranks.empty()) return merged;
  merged.meta = ranks.front().trace.meta;
  merged.meta["ranks"] = std::to_string(ranks.size());
  auto append = [](auto& into, const auto& from) {
    into.insert(into.end(), from.begin(), from.end());
  };
  for (const RankTrace& rank : ranks) {
    const collector::Trace& t = rank.trace;
    append(merged.operators, t.operators);
    append(merged.ranges, t.ranges);
    append(merged.memory, t.memory);
    append(merged.kernels, t.kernels);
    append(merged.memcpys, t.memcpys);
    append(merged.memsets, t.memsets);
    append(merged.apiCalls, t.apiCalls);
    append(merged.correlations, t.correlations);
    append(merged.overheads, t.overheads);
    append(merged.routing, t.routing);
    append(merged.cache, t.cache);
    append(merged.transfers, t.transfers);
    append(merged.sources, t.sources);
  }
  return merged;
}

}  // namespace moeprof::analysis
