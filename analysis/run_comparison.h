#pragma once
// A/B comparison of two runs from their manifests: every numeric metric side by side with the
// ratio, and the configuration values that differ. Reports and the GUI render this; it holds no
// formatting decisions of its own.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "collector/run_manifest.h"

namespace moeprof::analysis {

// One metric of the comparison. A value is absent when that run did not record the metric.
struct MetricDelta {
  std::string key;  // dotted path into run.json "metrics", e.g. "encoder.latency_ms.median"
  std::optional<double> a;
  std::optional<double> b;
  std::optional<double> ratio;  // b / a when both are present and a != 0
  bool operator==(const MetricDelta&) const = default;
};

// One configuration value that differs between the runs. Values are compact JSON text (so a
// string keeps its quotes and "1" differs from 1); absent when that run's config lacks the key.
struct ConfigDifference {
  std::string key;  // dotted path into run.json "config", e.g. "gating.capacity_factor"
  std::optional<std::string> a;
  std::optional<std::string> b;
  bool operator==(const ConfigDifference&) const = default;
};

// The whole comparison of run A (usually the baseline) with run B, keys in sorted order.
struct RunComparison {
  std::string labelA;
  std::string labelB;
  std::vector<MetricDelta> metrics;
  std::vector<ConfigDifference> configDifferences;
};

// Every numeric leaf of a JSON tree as (dotted key, value), sorted by key. Booleans, strings,
// nulls and arrays (including arrays of numbers, e.g. raw samples) are skipped: only scalars
// compare meaningfully one to one. A number at the root gets the empty key.
std::vector<std::pair<std::string, double>> flattenNumericMetrics(const nlohmann::json& tree);

// Every leaf of a JSON tree as (dotted key, compact JSON text), sorted by key. Arrays and empty
// objects count as leaves, so that a changed list or an emptied section shows up as a change.
std::vector<std::pair<std::string, std::string>> flattenJsonLeaves(const nlohmann::json& tree);

RunComparison compareRuns(const collector::RunManifest& a, const collector::RunManifest& b,
                          const std::string& labelA = "A", const std::string& labelB = "B");

}  // namespace moeprof::analysis
