#include "analysis/run_comparison.h"

#include <algorithm>
#include <map>

namespace moeprof::analysis {

namespace {

std::string joinKey(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

void collectNumbers(const nlohmann::json& node, const std::string& prefix,
                    std::vector<std::pair<std::string, double>>& out) {
  if (node.is_object()) {
    for (const auto& [key, child] : node.items()) collectNumbers(child, joinKey(prefix, key), out);
  } else if (node.is_number()) {  // false for booleans in nlohmann::json
    out.emplace_back(prefix, node.get<double>());
  }
}

void collectLeaves(const nlohmann::json& node, const std::string& prefix,
                   std::vector<std::pair<std::string, std::string>>& out) {
  if (node.is_object() && !node.empty()) {
    for (const auto& [key, child] : node.items()) collectLeaves(child, joinKey(prefix, key), out);
  } else {
    out.emplace_back(prefix, node.dump());
  }
}

template <typename Value>
std::map<std::string, Value> toMap(std::vector<std::pair<std::string, Value>> pairs) {
  return {std::make_move_iterator(pairs.begin()), std::make_move_iterator(pairs.end())};
}

template <typename Value>
std::optional<Value> lookup(const std::map<std::string, Value>& map, const std::string& key) {
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

// Sorted union of the keys of two maps.
template <typename Value>
std::vector<std::string> unionKeys(const std::map<std::string, Value>& a,
                                   const std::map<std::string, Value>& b) {
  std::vector<std::string> keys;
  for (const auto& entry : a) keys.push_back(entry.first);
  for (const auto& entry : b) keys.push_back(entry.first);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

}  // namespace

std::vector<std::pair<std::string, double>> flattenNumericMetrics(const nlohmann::json& tree) {
  std::vector<std::pair<std::string, double>> out;
  collectNumbers(tree, "", out);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<std::string, std::string>> flattenJsonLeaves(const nlohmann::json& tree) {
  std::vector<std::pair<std::string, std::string>> out;
  collectLeaves(tree, "", out);
  std::sort(out.begin(), out.end());
  return out;
}

RunComparison compareRuns(const collector::RunManifest& a, const collector::RunManifest& b,
                          const std::string& labelA, const std::string& labelB) {
  RunComparison comparison{labelA, labelB, {}, {}};

  auto metricsA = toMap(flattenNumericMetrics(a.metrics));
  auto metricsB = toMap(flattenNumericMetrics(b.metrics));
  for (const std::string& key : unionKeys(metricsA, metricsB)) {
    MetricDelta delta{key, lookup(metricsA, key), lookup(metricsB, key), std::nullopt};
    if (delta.a && delta.b && *delta.a != 0.0) delta.ratio = *delta.b / *delta.a;
    comparison.metrics.push_back(std::move(delta));
  }

  auto configA = toMap(flattenJsonLeaves(a.config));
  auto configB = toMap(flattenJsonLeaves(b.config));
  for (const std::string& key : unionKeys(configA, configB)) {
    ConfigDifference difference{key, lookup(configA, key), lookup(configB, key)};
    if (difference.a != difference.b) comparison.configDifferences.push_back(difference);
  }
  return comparison;
}

}  // namespace moeprof::analysis
