#include "collector/routing_log_identity.h"

#include <string>

#include "collector/errors.h"
#include "collector/run_manifest.h"

namespace moeprof::collector {

void checkRoutingLogMatchesRun(const RoutingLogHeader& header, const std::filesystem::path& log,
                               const std::filesystem::path& runDir) {
  std::error_code ignored;
  if (!std::filesystem::is_regular_file(runDir / kManifestFileName, ignored)) return;
  const RunManifest manifest = readManifest(runDir);
  const nlohmann::json& config = manifest.config;
  const nlohmann::json model = config.value("model", nlohmann::json::object());
  auto mismatch = [&](const std::string& field, const std::string& inLog,
                      const std::string& inRun) {
    throw InputError("routing log " + log.string() + " is not the routing of the run in " +
                     runDir.string() + ": its " + field + " is " + inLog + ", but run.json says " +
                     inRun + " (a log copied beside another run?)");
  };
  const std::string preset = config.value("preset", std::string());
  if (!preset.empty() && preset != header.model) {
    mismatch("model", "'" + header.model + "'", "'" + preset + "'");
  }
  auto compare = [&](const char* key, const std::string& field, uint64_t inLog) {
    auto it = model.find(key);
    if (it == model.end() || !it->is_number_integer()) return;
    if (it->get<uint64_t>() != inLog) {
      mismatch(field, std::to_string(inLog), std::to_string(it->get<uint64_t>()));
    }
  };
  compare("experts", "expert count", header.numExperts);
  compare("top_k", "top-k", header.topK);
  compare("moe_layers", "MoE layer count", header.layers.size());
}

}  // namespace moeprof::collector
