#include "analysis/comparison_inputs.h"

#include <cmath>
#include <cstdio>
#include <fstream>

#include "analysis/run_comparison.h"
#include "collector/errors.h"
#include "collector/routing_log.h"
#include "collector/run_manifest.h"

namespace moeprof::analysis {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kBaselineFormat = "moeprof-baseline";
constexpr int kBaselineSchemaVersion = 1;
constexpr int kMaxRunSetDepth = 3;

std::string joinKey(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// Every list of numbers under `node` (a run.json "samples" object) as prefix.path -> values.
void collectSampleLists(const json& node, const std::string& prefix,
                        std::map<std::string, std::vector<double>>& out) {
  if (node.is_object()) {
    for (const auto& [key, child] : node.items())
      collectSampleLists(child, joinKey(prefix, key), out);
  } else if (node.is_array() && !node.empty() &&
             std::all_of(node.begin(), node.end(), [](const json& x) { return x.is_number(); })) {
    out[prefix] = node.get<std::vector<double>>();
  }
}

// Finds the phase objects of a run's metrics (those holding "latency_ms") and adds their
// samples; a phase of a run recorded before samples were kept gets its latency as one value.
void addSamples(const json& node, const std::string& prefix, double repeats,
                std::map<std::string, MetricValues>& metrics) {
  if (!node.is_object()) return;
  if (node.contains("latency_ms") && node.at("latency_ms").is_object()) {
    const double units = node.value("units", 0.0);
    const double perRepeat = repeats > 0 && units > 0 ? units / repeats : 1.0;
    const std::string latencyKey = joinKey(prefix, "latency_ms");
    if (node.at("latency_ms").contains("median")) {
      metrics[latencyKey].value = node.at("latency_ms").at("median").get<double>();
    }
    std::map<std::string, std::vector<double>> lists;
    if (node.contains("samples")) collectSampleLists(node.at("samples"), prefix, lists);
    for (auto& [key, samples] : lists) {
      MetricValues& values = metrics[key];
      values.value = median(samples);
      values.samples = std::move(samples);
    }
    for (auto& [key, values] : metrics) {
      if (key.rfind(prefix + ".", 0) == 0 || prefix.empty()) values.unitsPerRepeat = perRepeat;
    }
    return;
  }
  for (const auto& [key, child] : node.items()) {
    if (key != "ranks") addSamples(child, joinKey(prefix, key), repeats, metrics);
  }
}

std::vector<std::vector<int64_t>> readRoutingCounts(const fs::path& path) {
  auto log = collector::readRoutingLog(path);
  std::vector<std::vector<int64_t>> counts(log.header.layers.size(),
                                           std::vector<int64_t>(log.header.numExperts, 0));
  for (const auto& record : log.records) {
    if (record.moeLayer >= counts.size()) continue;  // readRoutingLog checks; defensive
    for (uint16_t id : record.experts) {
      const uint16_t expert = id & static_cast<uint16_t>(~collector::kDroppedFlag);
      if (expert < log.header.numExperts) ++counts[record.moeLayer][expert];
    }
  }
  return counts;
}

ComparableRun loadRun(const fs::path& dir, const std::string& name) {
  auto manifest = collector::readManifest(dir);
  const bool complete = manifest.status == collector::RunStatus::Complete;
  ComparableRun run = comparableRun(name, manifest.config, manifest.metrics, complete);
  const fs::path runDir = fs::is_directory(dir) ? dir : dir.parent_path();
  if (manifest.files.contains("routing_log") && manifest.files.at("routing_log").is_string()) {
    const fs::path log = runDir / manifest.files.at("routing_log").get<std::string>();
    try {
      if (fs::exists(log)) run.routingCounts = readRoutingCounts(log);
    } catch (const InputError&) {
      if (complete) throw;  // an interrupted run's log may be cut short: compared without it
    }
  }
  return run;
}

void findRuns(const fs::path& root, const fs::path& dir, int depth,
              std::vector<ComparableRun>& runs) {
  std::vector<fs::path> children;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory()) children.push_back(entry.path());
  }
  std::sort(children.begin(), children.end());
  for (const auto& child : children) {
    if (fs::exists(child / collector::kManifestFileName)) {
      runs.push_back(loadRun(child, fs::relative(child, root).generic_string()));
    } else if (depth < kMaxRunSetDepth) {
      findRuns(root, child, depth + 1, runs);
    }
  }
}

bool configsEqualExcept(const json& a, const json& b, const std::vector<std::string>& keys) {
  json x = a, y = b;
  for (const auto& key : keys) {
    x.erase(key);
    y.erase(key);
  }
  return x == y;
}

// What a dense run and a static MoE run must share to be counterparts.
bool denseCounterparts(const json& moe, const json& dense) {
  for (const char* key : {"workload", "batch", "seq_len", "decode_steps", "decode",
                          "generate_tokens", "seed", "repeats", "warmup", "device", "threads",
                          "tokens_file", "text", "trace", "allocator", "buffering", "ranks"}) {
    if (moe.value(key, json()) != dense.value(key, json())) return false;
  }
  for (const char* key : {"d_model", "ffn_dim", "heads", "layers", "vocab"}) {
    if (moe.at("model").value(key, json()) != dense.at("model").value(key, json())) return false;
  }
  return true;
}

std::vector<std::string> sampledPhases(const ComparableRun& run) {
  std::vector<std::string> phases;
  const std::string suffix = ".latency_ms";
  for (const auto& [key, values] : run.metrics) {
    if (values.samples && key.size() > suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
      phases.push_back(key.substr(0, key.size() - suffix.size()));
    }
  }
  return phases;
}

// ratio samples: over each unit of `perUnit` (dividing by, or dividing, the other's median).
void addRatio(std::map<std::string, MetricValues>& ratios, const std::string& key,
              const MetricValues& perUnit, double otherMedian, bool otherOverUnit) {
  if (otherMedian <= 0) return;
  MetricValues ratio;
  ratio.unitsPerRepeat = perUnit.unitsPerRepeat;
  std::vector<double> samples;
  for (double x : *perUnit.samples) {
    if (x > 0) samples.push_back(otherOverUnit ? otherMedian / x : x / otherMedian);
  }
  if (samples.empty()) return;
  ratio.value = median(samples);
  ratio.samples = std::move(samples);
  ratios[key] = std::move(ratio);
}

bool isMoe(const ComparableRun& run) {
  return run.config.value("moe", false);
}

// Numbers of a baseline keep six significant digits: enough for any threshold, and a refresh
// that measures the same values rewrites the same text.
double rounded(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return std::strtod(text, nullptr);
}

// JSON with objects indented and every list of scalars on one line.
void writeReviewable(std::string& out, const json& node, int indent) {
  const bool scalarList =
      node.is_array() &&
      std::all_of(node.begin(), node.end(), [](const json& x) { return x.is_primitive(); });
  if (!node.is_structured() || node.empty() || scalarList) {
    out += node.dump();
    return;
  }
  out += node.is_object() ? "{\n" : "[\n";
  const std::string pad(static_cast<size_t>(indent + 2), ' ');
  bool first = true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    out += first ? "" : ",\n";
    first = false;
    out += pad;
    if (node.is_object()) out += json(it.key()).dump() + ": ";
    writeReviewable(out, it.value(), indent + 2);
  }
  out += "\n" + std::string(static_cast<size_t>(indent), ' ') + (node.is_object() ? "}" : "]");
}

}  // namespace

const char* setKindName(SetKind kind) {
  switch (kind) {
    case SetKind::Run:
      return "run";
    case SetKind::RunSet:
      return "run set";
    case SetKind::Baseline:
      return "baseline";
  }
  return "run";
}

ComparableRun comparableRun(const std::string& name, const json& config, const json& metrics,
                            bool complete) {
  ComparableRun run;
  run.name = name;
  run.complete = complete;
  run.config = config;
  for (const auto& [key, value] : flattenNumericMetrics(metrics)) {
    if (key.rfind("ranks.", 0) != 0) run.metrics[key].value = value;
  }
  addSamples(metrics, "", config.value("repeats", 0.0), run.metrics);
  return run;
}

std::map<std::string, MetricValues> sideBySideRatios(const std::vector<ComparableRun>& runs) {
  std::map<std::string, MetricValues> ratios;
  for (const auto& fast : runs) {
    if (!isMoe(fast) || fast.config.value("gating", "") != "dynamic") continue;
    for (const auto& slow : runs) {
      if (slow.config.value("gating", "") != "static" ||
          !configsEqualExcept(fast.config, slow.config, {"gating"})) {
        continue;
      }
      for (const auto& phase : sampledPhases(fast)) {
        auto other = slow.metrics.find(phase + ".latency_ms");
        if (other == slow.metrics.end() || !other->second.samples) continue;
        addRatio(ratios, fast.name + "/" + phase + ".speedup_vs_static",
                 fast.metrics.at(phase + ".latency_ms"), median(*other->second.samples), true);
      }
    }
  }
  for (const auto& dense : runs) {
    if (isMoe(dense) || !dense.config.contains("model")) continue;
    for (const auto& moe : runs) {
      if (!isMoe(moe) || moe.config.value("gating", "") != "static" ||
          !denseCounterparts(moe.config, dense.config)) {
        continue;
      }
      for (const auto& phase : sampledPhases(moe)) {
        auto other = dense.metrics.find(phase + ".latency_ms");
        if (other == dense.metrics.end() || !other->second.samples) continue;
        addRatio(ratios, moe.name + "/" + phase + ".latency_vs_dense",
                 moe.metrics.at(phase + ".latency_ms"), median(*other->second.samples), false);
      }
    }
  }
  return ratios;
}

ComparableSet loadComparable(const fs::path& path) {
  ComparableSet set;
  set.label = path.string();
  if (!fs::exists(path)) {
    throw InputError("'" + path.string() +
                     "' does not exist (expected a run directory, a directory of runs or a "
                     "baseline file)");
  }
  if (fs::is_regular_file(path) && path.filename() != collector::kManifestFileName) {
    std::ifstream in(path);
    json file = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (file.is_discarded() || !file.is_object() || file.value("format", "") != kBaselineFormat) {
      throw InputError("'" + path.string() + "' is not a baseline file (format " + kBaselineFormat +
                       "), a run directory or a directory of runs");
    }
    return parseBaseline(file, path.string());
  }
  if (fs::is_regular_file(path) || fs::exists(path / collector::kManifestFileName)) {
    const fs::path dir = fs::is_regular_file(path) ? path.parent_path() : path;
    set.runs.push_back(loadRun(path, fs::absolute(dir).lexically_normal().filename().string()));
    return set;
  }
  set.kind = SetKind::RunSet;
  findRuns(path, path, 1, set.runs);
  if (set.runs.empty()) {
    throw InputError("'" + path.string() + "' holds no run directory (no run.json in it or in " +
                     "its subdirectories)");
  }
  set.ratios = sideBySideRatios(set.runs);
  return set;
}

std::string baselineText(const ComparableSet& set, const ComparisonRules& rules,
                         const std::string& createdBy) {
  json runs = json::object();
  for (const auto& run : set.runs) {
    json metrics = json::object();
    for (const auto& [key, values] : run.metrics) {
      if (values.value && rules.ruleFor(key).kind == MetricKind::Exact) {
        metrics[key] = *values.value;
      }
    }
    json entry = {{"config", run.config}, {"metrics", metrics}};
    if (!run.routingCounts.empty()) entry["routing_counts"] = run.routingCounts;
    runs[run.name] = entry;
  }
  json ratios = json::object();
  for (const auto& [key, values] : set.ratios) {
    std::vector<double> samples;
    for (double x : *values.samples) samples.push_back(rounded(x));
    ratios[key] = {{"units_per_repeat", values.unitsPerRepeat}, {"samples", samples}};
  }
  json file = {{"format", kBaselineFormat},
               {"schema_version", kBaselineSchemaVersion},
               {"created_by", createdBy},
               {"about",
                "What survives a change of machine: configurations, deterministic metrics, "
                "routing counts, and ratios measured side by side in one run. No absolute "
                "times. Compare with: moeprof compare THIS_FILE RUNS (docs/comparisons.md)."},
               {"runs", runs},
               {"ratios", ratios}};
  std::string out;
  writeReviewable(out, file, 0);
  return out + "\n";
}

ComparableSet parseBaseline(const json& file, const std::string& label) {
  if (file.value("schema_version", 0) != kBaselineSchemaVersion || !file.contains("runs") ||
      !file.at("runs").is_object()) {
    throw InputError(label + ": not a " + kBaselineFormat + " file of schema_version " +
                     std::to_string(kBaselineSchemaVersion) + " with \"runs\"");
  }
  ComparableSet set;
  set.label = label;
  set.kind = SetKind::Baseline;
  set.createdBy = file.value("created_by", "");
  try {
    for (const auto& [name, entry] : file.at("runs").items()) {
      ComparableRun run;
      run.name = name;
      run.config = entry.at("config");
      for (const auto& [key, value] : entry.at("metrics").items()) {
        run.metrics[key].value = value.get<double>();
      }
      if (entry.contains("routing_counts")) {
        run.routingCounts = entry.at("routing_counts").get<std::vector<std::vector<int64_t>>>();
      }
      set.runs.push_back(std::move(run));
    }
    const json ratios = file.value("ratios", json::object());  // kept alive for items()
    for (const auto& [key, entry] : ratios.items()) {
      MetricValues values;
      values.samples = entry.at("samples").get<std::vector<double>>();
      values.value = median(*values.samples);
      values.unitsPerRepeat = entry.value("units_per_repeat", 1.0);
      set.ratios[key] = std::move(values);
    }
  } catch (const json::exception& e) {
    throw InputError(label + ": malformed baseline: " + e.what());
  }
  return set;
}

}  // namespace moeprof::analysis
