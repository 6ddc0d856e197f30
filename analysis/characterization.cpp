#include "analysis/characterization.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis/routing_loads.h"
#include "analysis/routing_order.h"
#include "analysis/zipf_routing.h"
#include "collector/errors.h"
#include "collector/routing_log_identity.h"
#include "collector/run_manifest.h"

namespace moeprof::analysis {
namespace {

using nlohmann::json;

std::string stringAt(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_string()) return "";
  return object[key].get<std::string>();
}

// The weights a run used, as far as run.json records them: config.weights as a string or as an
// object with a "kind" or "source", else a config.checkpoint path means a checkpoint.
std::string weightsOf(const json& config) {
  if (config.contains("weights")) {
    const json& weights = config["weights"];
    if (weights.is_string()) return weights.get<std::string>();
    for (const char* key : {"kind", "source", "type"}) {
      std::string value = stringAt(weights, key);
      if (!value.empty()) return value;
    }
  }
  if (!stringAt(config, "checkpoint").empty()) return "checkpoint";
  return "";
}

json number(double value) {
  return std::isfinite(value) ? json(value) : json(nullptr);
}

json reuseJson(const ReuseSummary& reuse) {
  return {{"accesses", reuse.accesses},
          {"cold_accesses", reuse.coldAccesses},
          {"cold_fraction", number(reuse.coldFraction())},
          {"mean_distance", number(reuse.meanDistance())},
          {"median_distance", number(reuse.quantileDistance(0.5))},
          {"p90_distance", number(reuse.quantileDistance(0.9))},
          {"histogram", reuse.histogram}};
}

// The figures a layer and a stack summary both have.
template <typename Statistics>
void addSkewAndLocality(json& out, const Statistics& s) {
  out["gini"] = number(s.gini);
  out["top10_share"] = number(s.top10Share);
  out["hottest_to_uniform"] = number(s.hottestToUniform);
  out["mean_pass_gini"] = number(s.meanPassGini);
  out["mean_hottest_pass_share"] = number(s.meanHottestPassShare);
  out["max_hottest_pass_share"] = number(s.maxHottestPassShare);
  out["inactive_per_pass"] = number(s.inactivePerPass);
  out["inactive_per_batch"] = number(s.inactivePerBatch);
  out["never_active"] = number(s.neverActive);
  out["reuse_next_pass"] = number(s.reuseNextPass);
  out["reuse"] = reuseJson(s.reuse);
}

json layerJson(const LayerStatistics& s) {
  json out = {{"stack", collector::layerStackName(s.layer.stack)},
              {"block", s.layer.blockIndex},
              {"passes", s.passes},
              {"batches", s.batches},
              {"assignments", s.assignments}};
  addSkewAndLocality(out, s);
  out["load_share"] = s.loadShare;
  return out;
}

json stackJson(const StackStatistics& s, const StackReplay& replay) {
  json out = {{"stack", collector::layerStackName(s.stack)},
              {"layers", s.layers},
              {"passes_per_layer", s.passesPerLayer}};
  addSkewAndLocality(out, s);
  out["cache"] = replay.caches ? json::parse(cacheSimulationJson(*replay.caches)) : json(nullptr);
  out["placement"] =
      replay.placement ? json::parse(placementSimulationJson(*replay.placement)) : json(nullptr);
  out["device_cache"] = replay.deviceCaches
                            ? json::parse(deviceCacheSimulationJson(*replay.deviceCaches))
                            : json(nullptr);
  return out;
}

json labelJson(const RunLabel& label) {
  auto orNull = [](const std::string& value) {
    return value.empty() ? json(nullptr) : json(value);
  };
  return {{"source", label.source},
          {"label", label.text()},
          {"preset", label.preset},
          {"weights", orNull(label.weights)},
          {"domain", orNull(label.domain)},
          {"lang", orNull(label.lang)},
          {"status", orNull(label.status)},
          {"synthetic", label.zipfExponent.has_value()},
          {"zipf_s", label.zipfExponent ? json(*label.zipfExponent) : json(nullptr)}};
}

std::optional<CacheSimulation> replayCaches(const collector::RoutingLog& stackLog,
                                            const CharacterizationOptions& options) {
  std::vector<uint32_t> slots;
  for (uint32_t count : options.slots) {
    if (count >= stackLog.header.topK && count <= stackLog.header.numExperts)
      slots.push_back(count);
  }
  if (slots.empty() || options.cachePolicies.empty()) return std::nullopt;
  return simulateCaches(stackLog, options.cachePolicies, slots, CacheScope::Layer);
}

std::optional<PlacementSimulation> replayPlacements(const collector::RoutingLog& stackLog,
                                                    const RoutingStatistics& statistics,
                                                    collector::LayerStack stack,
                                                    const CharacterizationOptions& options) {
  std::vector<int> devices;
  for (int count : options.devices) {
    if (count >= 1 && statistics.header.numExperts % count == 0) devices.push_back(count);
  }
  uint64_t fewestPasses = UINT64_MAX;
  for (const LayerStatistics& layer : statistics.layers) {
    if (layer.layer.stack == stack) fewestPasses = std::min<uint64_t>(fewestPasses, layer.passes);
  }
  if (devices.empty() || options.placements.empty() || fewestPasses < 2) return std::nullopt;
  std::vector<PlacementSpec> specs;
  for (const std::string& name : options.placements) specs.push_back(parsePlacementSpec(name));
  return simulatePlacements(routingLoads(stackLog), stackLog.header.model, specs, devices);
}

// Per-GPU caches under each placement without replicas, on the placements' device counts.
std::optional<DeviceCacheSimulation> replayPerGpuCaches(const collector::RoutingLog& stackLog,
                                                        const PlacementSimulation& placement,
                                                        const CharacterizationOptions& options) {
  if (options.deviceCachePolicy.empty()) return std::nullopt;
  // A judged half of one pass per layer holds only first accesses: every one a miss.
  for (const PlacementOutcome& outcome : placement.outcomes) {
    if (outcome.evaluationPasses < 2) return std::nullopt;
  }
  std::vector<PlacementSpec> specs;
  std::vector<int> devices;
  for (const PlacementOutcome& outcome : placement.outcomes) {
    PlacementSpec spec = parsePlacementSpec(outcome.placement);
    bool seen = false;
    for (const PlacementSpec& known : specs) seen = seen || known.name() == spec.name();
    if (spec.algorithm != "eplb" && !seen) specs.push_back(spec);
    if (std::find(devices.begin(), devices.end(), outcome.devices) == devices.end()) {
      devices.push_back(outcome.devices);
    }
  }
  std::optional<DeviceCacheSimulation> merged;
  for (int count : devices) {
    std::vector<uint32_t> slots;
    for (uint32_t s : options.deviceCacheSlots) {
      if (s >= stackLog.header.topK && s < stackLog.header.numExperts / count) slots.push_back(s);
    }
    if (slots.empty() || specs.empty()) continue;
    DeviceCacheSimulation one = simulateDeviceCaches(stackLog, {options.deviceCachePolicy}, slots,
                                                     specs, {count}, DeviceReplay::Judged);
    if (!merged) {
      merged = std::move(one);
    } else {
      merged->outcomes.insert(merged->outcomes.end(), one.outcomes.begin(), one.outcomes.end());
    }
  }
  return merged;
}

}  // namespace

std::string RunLabel::text() const {
  std::ostringstream out;
  if (zipfExponent) {
    out << "zipf s=" << *zipfExponent << " (" << preset << ")";
    return out.str();
  }
  out << preset;
  if (!weights.empty()) out << " " << weights;
  if (!domain.empty()) out << " domain=" << domain;
  if (!lang.empty()) out << " lang=" << lang;
  if (!decode.empty()) out << " decode=" << decode;
  if (status == "incomplete" || status == "interrupted") out << " (" << status << ")";
  return out.str();
}

RunLabel readRunLabel(const std::filesystem::path& runDir) {
  collector::RunManifest manifest = collector::readManifest(runDir);
  RunLabel label;
  label.source = runDir.string();
  label.preset = stringAt(manifest.config, "preset");
  label.weights = weightsOf(manifest.config);
  if (manifest.config.contains("text")) {
    label.domain = stringAt(manifest.config["text"], "domain");
    label.lang = stringAt(manifest.config["text"], "lang");
  }
  if (stringAt(manifest.config, "decode") == "reference") label.decode = "reference";
  label.status = collector::runStatusName(manifest.status);
  return label;
}

RunCharacterization characterizeLog(const collector::RoutingLog& log, RunLabel label,
                                    const CharacterizationOptions& options) {
  RunCharacterization run;
  run.label = std::move(label);
  if (run.label.preset.empty()) run.label.preset = log.header.model;
  run.statistics = routingStatistics(log);
  for (const StackStatistics& stack : run.statistics.stacks) {
    collector::RoutingLog stackLog = collector::onlyStack(log, stack.stack);
    StackReplay replay;
    replay.stack = stack.stack;
    replay.caches = replayCaches(stackLog, options);
    replay.placement = replayPlacements(stackLog, run.statistics, stack.stack, options);
    if (replay.placement) {
      replay.deviceCaches = replayPerGpuCaches(stackLog, *replay.placement, options);
    }
    run.replays.push_back(std::move(replay));
  }
  return run;
}

void addSimilarity(Characterization& characterization, const CharacterizationOptions& options) {
  characterization.similarity.clear();
  const auto& runs = characterization.runs;
  if (!options.similarity || runs.size() < 2) return;
  for (size_t i = 1; i < runs.size(); ++i) {
    if (runs[i].statistics.header == runs[0].statistics.header) continue;
    throw InputError("the similarity matrix compares runs of one model: '" + runs[0].label.source +
                     "' is " + runs[0].statistics.header.model + ", '" + runs[i].label.source +
                     "' is " + runs[i].statistics.header.model +
                     " (characterize them separately, or pass --no-similarity)");
  }
  for (const StackStatistics& stack : runs[0].statistics.stacks) {
    SimilarityMatrix matrix;
    matrix.stack = stack.stack;
    matrix.pairs.assign(runs.size(), std::vector<LoadSimilarity>(runs.size()));
    for (size_t i = 0; i < runs.size(); ++i) {
      for (size_t j = 0; j < runs.size(); ++j) {
        matrix.pairs[i][j] = loadSimilarity(runs[i].statistics, runs[j].statistics, stack.stack);
      }
    }
    characterization.similarity.push_back(std::move(matrix));
  }
}

std::filesystem::path routingLogOfRun(const std::filesystem::path& run) {
  if (!std::filesystem::is_directory(run)) {
    throw InputError("'" + run.string() +
                     "' is not a run directory (expected a directory written by "
                     "'moeprof run', holding run.json and routing.bin)");
  }
  if (!std::filesystem::is_regular_file(run / collector::kManifestFileName)) {
    throw InputError("'" + run.string() + "' is not a run directory: it has no " +
                     collector::kManifestFileName);
  }
  std::filesystem::path log = run / collector::kRoutingLogFileName;
  if (!std::filesystem::is_regular_file(log)) {
    throw InputError("'" + run.string() + "' has no " + collector::kRoutingLogFileName +
                     " (a dense model records no routing; characterize needs an MoE run)");
  }
  return log;
}

Characterization characterizeRuns(const std::vector<std::filesystem::path>& runs,
                                  const std::vector<double>& zipfExponents, uint64_t seed,
                                  const CharacterizationOptions& options) {
  std::vector<std::filesystem::path> logs;
  std::vector<RunLabel> labels;
  for (const auto& run : runs) {
    logs.push_back(routingLogOfRun(run));
    labels.push_back(readRunLabel(run));
  }
  Characterization characterization;
  std::vector<collector::RoutingLog> shapes;  // the first log of each model, for Zipf twins
  for (size_t i = 0; i < logs.size(); ++i) {
    collector::RoutingLog log = collector::readRoutingLog(logs[i]);
    collector::checkRoutingLogMatchesRun(log.header, logs[i], runs[i]);
    if (log.records.empty()) {
      throw InputError("routing log " + logs[i].string() +
                       " holds no routing (no measured batch was logged); characterize needs at "
                       "least one");
    }
    checkRoutingOrder(log, logs[i].string());
    characterization.runs.push_back(characterizeLog(log, labels[i], options));
    bool seen = false;
    for (const auto& shape : shapes) seen = seen || shape.header == log.header;
    if (!seen && !zipfExponents.empty()) shapes.push_back(std::move(log));
  }
  for (double s : zipfExponents) {
    for (const collector::RoutingLog& shape : shapes) {
      RunLabel label;
      label.source = "zipf";
      label.preset = shape.header.model;
      label.zipfExponent = s;
      characterization.runs.push_back(
          characterizeLog(zipfRoutingLike(shape, s, seed), label, options));
    }
  }
  addSimilarity(characterization, options);
  return characterization;
}

std::string characterizationJson(const Characterization& characterization) {
  json runs = json::array();
  for (const RunCharacterization& run : characterization.runs) {
    json stacks = json::array();
    for (size_t s = 0; s < run.statistics.stacks.size(); ++s) {
      stacks.push_back(stackJson(run.statistics.stacks[s], run.replays.at(s)));
    }
    json layers = json::array();
    for (const LayerStatistics& layer : run.statistics.layers) layers.push_back(layerJson(layer));
    const auto& header = run.statistics.header;
    runs.push_back({{"run", labelJson(run.label)},
                    {"model", header.model},
                    {"experts", header.numExperts},
                    {"top_k", header.topK},
                    {"stacks", stacks},
                    {"layers", layers}});
  }
  json similarity = json::array();
  for (const SimilarityMatrix& matrix : characterization.similarity) {
    json cosine = json::array(), divergence = json::array();
    for (const auto& row : matrix.pairs) {
      json cosineRow = json::array(), divergenceRow = json::array();
      for (const LoadSimilarity& pair : row) {
        cosineRow.push_back(number(pair.cosine));
        divergenceRow.push_back(number(pair.jensenShannon));
      }
      cosine.push_back(cosineRow);
      divergence.push_back(divergenceRow);
    }
    similarity.push_back({{"stack", collector::layerStackName(matrix.stack)},
                          {"cosine", cosine},
                          {"jensen_shannon_divergence", divergence}});
  }
  json out = {{"format", "moeprof-characterization"},
              {"schema_version", 1},
              {"runs", runs},
              {"similarity", similarity}};
  return out.dump(2) + "\n";
}

}  // namespace moeprof::analysis
