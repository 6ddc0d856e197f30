#pragma once
// run.json, the self-describing manifest of a run directory: schema version, status, the
// configuration, the environment, the measured metrics and the files of the run.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace moeprof::collector {

inline constexpr int kRunSchemaVersion = 1;
inline constexpr const char* kManifestFileName = "run.json";
inline constexpr const char* kRoutingLogFileName = "routing.bin";

// Incomplete from the start until every metric is in (a run still going, or one that failed or
// was killed); Interrupted when it was asked to stop (a signal) and closed its files first.
enum class RunStatus { Incomplete, Complete, Interrupted };
const char* runStatusName(RunStatus status);  // "incomplete", "complete", "interrupted"

struct RunManifest {
  RunStatus status = RunStatus::Incomplete;
  std::string statusReason;  // why an interrupted run stopped ("status_reason"); empty otherwise
  std::string tool;          // "moeprof 0.1.0"
  std::string createdAt;     // ISO 8601 UTC, e.g. "2026-11-23T14:05:00Z"
  nlohmann::json config = nlohmann::json::object();
  nlohmann::json environment = nlohmann::json::object();
  nlohmann::json metrics = nlohmann::json::object();
  nlohmann::json files = nlohmann::json::object();  // role -> file name in the run directory
};

// Writes runDir/run.json atomically (temporary file, fsync, rename): a reader never sees a
// half-written manifest and a failed write leaves the previous one intact.
void writeManifest(const std::filesystem::path& runDir, const RunManifest& manifest);

// Reads runDir/run.json (runDir may also be the run.json file itself). Throws InputError naming
// the path when it is missing, not JSON, has another schema_version, or lacks a required key.
RunManifest readManifest(const std::filesystem::path& runDir);

std::string currentUtcTimestamp();

}  // namespace moeprof::collector
