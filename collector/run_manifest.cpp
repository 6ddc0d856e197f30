#include "collector/run_manifest.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>

#include "collector/atomic_file.h"
#include "collector/errors.h"

namespace moeprof::collector {

namespace {

constexpr const char* kStatusComplete = "complete";
constexpr const char* kStatusIncomplete = "incomplete";
constexpr const char* kStatusInterrupted = "interrupted";

const nlohmann::json& requireKey(const nlohmann::json& root, const char* key,
                                 const std::filesystem::path& path) {
  auto it = root.find(key);
  if (it == root.end()) {
    throw InputError(path.string() + ": required key \"" + key + "\" is missing");
  }
  return *it;
}

std::string requireString(const nlohmann::json& root, const char* key,
                          const std::filesystem::path& path) {
  const nlohmann::json& value = requireKey(root, key, path);
  if (!value.is_string()) {
    throw InputError(path.string() + ": key \"" + key + "\" must be a string, not " + value.dump());
  }
  return value.get<std::string>();
}

nlohmann::json requireObject(const nlohmann::json& root, const char* key,
                             const std::filesystem::path& path) {
  const nlohmann::json& value = requireKey(root, key, path);
  if (!value.is_object()) {
    throw InputError(path.string() + ": key \"" + key + "\" must be a JSON object, not a " +
                     value.type_name());
  }
  return value;
}

nlohmann::json parseFile(const std::filesystem::path& file) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(file, error)) {
    throw InputError(file.string() +
                     " does not exist (expected a run directory or the path of its run.json)");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("cannot read " + file.string() + ": " + std::strerror(errno));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(file.string() + " is not valid JSON: " + e.what());
  }
}

void checkSchemaVersion(const nlohmann::json& root, const std::filesystem::path& file) {
  const nlohmann::json& version = requireKey(root, "schema_version", file);
  if (!version.is_number_integer()) {
    throw InputError(file.string() + ": schema_version must be an integer, not " + version.dump());
  }
  if (version.get<int64_t>() != kRunSchemaVersion) {
    throw InputError(file.string() + ": run.json schema_version " + version.dump() +
                     " is not supported (this moeprof reads " + std::to_string(kRunSchemaVersion) +
                     ")");
  }
}

}  // namespace

const char* runStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::Complete:
      return kStatusComplete;
    case RunStatus::Interrupted:
      return kStatusInterrupted;
    case RunStatus::Incomplete:
      break;
  }
  return kStatusIncomplete;
}

void writeManifest(const std::filesystem::path& runDir, const RunManifest& manifest) {
  std::filesystem::create_directories(runDir);
  // ordered_json keeps the identifying keys at the top, where people look first.
  nlohmann::ordered_json root;
  root["schema_version"] = kRunSchemaVersion;
  root["status"] = runStatusName(manifest.status);
  if (!manifest.statusReason.empty()) root["status_reason"] = manifest.statusReason;
  root["tool"] = manifest.tool;
  root["created_at"] = manifest.createdAt;
  root["config"] = manifest.config;
  root["environment"] = manifest.environment;
  root["metrics"] = manifest.metrics;
  root["files"] = manifest.files;
  std::string text = root.dump(2) + "\n";

  writeFileAtomically(runDir / kManifestFileName, text);
}

RunManifest readManifest(const std::filesystem::path& runDir) {
  std::error_code error;
  std::filesystem::path file =
      std::filesystem::is_directory(runDir, error) ? runDir / kManifestFileName : runDir;
  nlohmann::json root = parseFile(file);
  if (!root.is_object()) {
    throw InputError(file.string() + ": expected a JSON object at the top level, not a " +
                     root.type_name());
  }
  checkSchemaVersion(root, file);

  RunManifest manifest;
  std::string status = requireString(root, "status", file);
  if (status == kStatusComplete) {
    manifest.status = RunStatus::Complete;
  } else if (status == kStatusIncomplete) {
    manifest.status = RunStatus::Incomplete;
  } else if (status == kStatusInterrupted) {
    manifest.status = RunStatus::Interrupted;
  } else {
    throw InputError(file.string() + ": status \"" + status +
                     "\" is not allowed (expected \"complete\", \"incomplete\" or "
                     "\"interrupted\")");
  }
  if (auto reason = root.find("status_reason"); reason != root.end() && reason->is_string()) {
    manifest.statusReason = reason->get<std::string>();
  }
  manifest.tool = requireString(root, "tool", file);
  manifest.createdAt = requireString(root, "created_at", file);
  manifest.config = requireObject(root, "config", file);
  manifest.environment = requireObject(root, "environment", file);
  manifest.metrics = requireObject(root, "metrics", file);
  manifest.files = requireObject(root, "files", file);
  return manifest;
}

std::string currentUtcTimestamp() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  size_t length = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(buffer, length);
}

}  // namespace moeprof::collector
