#include "reports/comparison_report.h"

#include <nlohmann/json.hpp>

namespace moeprof::reports {

namespace {

constexpr int kValueDigits = 4;
constexpr const char* kMissing = "-";

std::string valueCell(const std::optional<double>& value) {
  return value ? formatNumber(*value, kValueDigits) : kMissing;
}

nlohmann::json optionalNumber(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// Config values are stored as JSON text; emit them as the values they were in run.json.
nlohmann::json optionalJson(const std::optional<std::string>& text) {
  return text ? nlohmann::json::parse(*text) : nlohmann::json(nullptr);
}

}  // namespace

Table comparisonTable(const analysis::RunComparison& comparison) {
  Table table({"metric", comparison.labelA, comparison.labelB, "B/A"},
              {Align::Left, Align::Right, Align::Right, Align::Right});
  for (const analysis::MetricDelta& delta : comparison.metrics) {
    table.addRow({delta.key, valueCell(delta.a), valueCell(delta.b),
                  delta.ratio ? formatRatio(*delta.ratio) : kMissing});
  }
  return table;
}

Table configDifferencesTable(const analysis::RunComparison& comparison) {
  Table table({"config key", comparison.labelA, comparison.labelB});
  for (const analysis::ConfigDifference& difference : comparison.configDifferences) {
    table.addRow(
        {difference.key, difference.a.value_or(kMissing), difference.b.value_or(kMissing)});
  }
  return table;
}

std::string comparisonJson(const analysis::RunComparison& comparison) {
  nlohmann::ordered_json root;
  root["label_a"] = comparison.labelA;
  root["label_b"] = comparison.labelB;
  root["metrics"] = nlohmann::ordered_json::array();
  for (const analysis::MetricDelta& delta : comparison.metrics) {
    nlohmann::ordered_json entry;
    entry["key"] = delta.key;
    entry["a"] = optionalNumber(delta.a);
    entry["b"] = optionalNumber(delta.b);
    entry["ratio"] = optionalNumber(delta.ratio);
    root["metrics"].push_back(std::move(entry));
  }
  root["config_differences"] = nlohmann::ordered_json::array();
  for (const analysis::ConfigDifference& difference : comparison.configDifferences) {
    nlohmann::ordered_json entry;
    entry["key"] = difference.key;
    entry["a"] = optionalJson(difference.a);
    entry["b"] = optionalJson(difference.b);
    root["config_differences"].push_back(std::move(entry));
  }
  return root.dump(2) + "\n";
}

}  // namespace moeprof::reports
