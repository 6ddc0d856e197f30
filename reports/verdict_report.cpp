#include "reports/verdict_report.h"

#include <nlohmann/json.hpp>

namespace moeprof::reports {

namespace {

using analysis::Comparison;
using analysis::MetricKind;
using analysis::MetricResult;
using analysis::Verdict;

constexpr int kJsonSchemaVersion = 1;
constexpr const char* kMissing = "-";

std::string cell(const std::optional<double>& value, int digits = 4) {
  return value ? formatNumber(*value, digits) : kMissing;
}

std::string intervalCell(const MetricResult& m) {
  if (!m.interval || !m.interval->defined) return kMissing;
  return "[" + formatNumber(m.interval->low, 3) + ", " + formatNumber(m.interval->high, 3) + "]";
}

std::string pCell(const MetricResult& m) {
  if (!m.adjustedP) return m.kind == MetricKind::Exact && m.verdict ? "exact" : kMissing;
  return *m.adjustedP < 1e-4 ? "<0.0001" : formatNumber(*m.adjustedP, 2);
}

std::string verdictCell(const MetricResult& m) {
  return m.verdict ? analysis::verdictName(*m.verdict) : kMissing;
}

Table emptyTable() {
  return Table({"metric", "A", "B", "B/A", "95% CI", "p (Holm)", "verdict", "note"},
               {Align::Left, Align::Right, Align::Right, Align::Right, Align::Right, Align::Right,
                Align::Left, Align::Left});
}

void addRow(Table& table, const MetricResult& m) {
  table.addRow({m.key, cell(m.a), cell(m.b), cell(m.ratio), intervalCell(m), pCell(m),
                verdictCell(m), m.note});
}

std::string overall(const Comparison& c) {
  return c.regressed() ? "regressed" : "no regression";
}

std::string counts(const Comparison& c) {
  return std::to_string(c.count(Verdict::Regressed)) + " regressed, " +
         std::to_string(c.count(Verdict::Improved)) + " improved, " +
         std::to_string(c.count(Verdict::Same)) + " same, " +
         std::to_string(c.count(Verdict::Unknown)) + " unknown";
}

std::string method(const Comparison& c) {
  return "timed metrics: Mann-Whitney U on per-unit samples, p-values adjusted with Holm's "
         "method over " +
         std::to_string(c.familySize) + " metric(s), alpha " + formatNumber(c.alpha, 3) + "; " +
         formatNumber(c.confidence * 100, 3) +
         "% bootstrap interval of the ratio of medians B/A; thresholds from " + c.rulesSource;
}

Table configTable(const Comparison& c) {
  Table table({"config key", "A", "B", "defines the workload"});
  for (const auto& change : c.configChanges) {
    const auto& d = change.difference;
    table.addRow({d.key, d.a.value_or(kMissing), d.b.value_or(kMissing),
                  change.workload ? "yes" : "no (option compared)"});
  }
  return table;
}

// What a reader of a CI log must look at: every verdict but `same`, and deterministic changes
// within tolerance.
bool needsALook(const MetricResult& m) {
  if (!m.verdict) return false;
  return *m.verdict != Verdict::Same || m.changed;
}

nlohmann::ordered_json optionalNumber(const std::optional<double>& value) {
  return value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json metricJson(const MetricResult& m) {
  nlohmann::ordered_json entry;
  entry["key"] = m.key;
  entry["kind"] = analysis::metricKindName(m.kind);
  entry["better"] = analysis::betterName(m.better);
  entry["a"] = optionalNumber(m.a);
  entry["b"] = optionalNumber(m.b);
  entry["ratio"] = optionalNumber(m.ratio);
  if (m.kind == MetricKind::Timed) {
    entry["samples_a"] = m.samplesA;
    entry["samples_b"] = m.samplesB;
    const bool interval = m.interval && m.interval->defined;
    entry["ci_low"] = interval ? nlohmann::ordered_json(m.interval->low) : nullptr;
    entry["ci_high"] = interval ? nlohmann::ordered_json(m.interval->high) : nullptr;
    entry["p"] = optionalNumber(m.pValue);
    entry["p_adjusted"] = optionalNumber(m.adjustedP);
    entry["exact_test"] = m.exactTest;
    entry["threshold"] = m.threshold;
    entry["repeats_needed"] =
        m.repeatsNeeded ? nlohmann::ordered_json(*m.repeatsNeeded) : nlohmann::ordered_json();
  } else if (m.kind == MetricKind::Exact) {
    entry["tolerance"] = {{"absolute", m.tolerance.absolute}, {"relative", m.tolerance.relative}};
    entry["changed"] = m.changed;
  }
  entry["verdict"] = m.verdict ? nlohmann::ordered_json(analysis::verdictName(*m.verdict))
                               : nlohmann::ordered_json();
  entry["note"] = m.note;
  return entry;
}

}  // namespace

Table verdictTable(const Comparison& comparison) {
  Table table = emptyTable();
  for (const auto& m : comparison.metrics) addRow(table, m);
  return table;
}

std::string verdictText(const Comparison& c) {
  std::string out = "A: " + c.labelA + " (" + analysis::setKindName(c.kindA) + ")\nB: " + c.labelB +
                    " (" + analysis::setKindName(c.kindB) + ")\n" + method(c) + "\n";
  if (!c.configChanges.empty()) out += "\n" + configTable(c).toText();
  for (const auto& name : c.onlyInA) out += "only in A: " + name + "\n";
  for (const auto& name : c.onlyInB) out += "only in B: " + name + "\n";
  out += "\n" + verdictTable(c).toText();
  if (!c.warnings.empty()) out += "\n";
  for (const auto& warning : c.warnings) out += "warning: " + warning + "\n";
  out += "\nverdict: " + overall(c) + " (" + counts(c) + ")\n";
  return out;
}

std::string verdictMarkdown(const Comparison& c) {
  std::string out = "### moeprof compare: " + overall(c) + "\n\n";
  out += "A `" + c.labelA + "` (" + analysis::setKindName(c.kindA) + ") against B `" + c.labelB +
         "` (" + analysis::setKindName(c.kindB) + "): **" + counts(c) + "**.\n\n" + method(c) +
         ".\n\n";
  Table look = emptyTable(), all = emptyTable();
  int ignored = 0;
  for (const auto& m : c.metrics) {
    if (!m.verdict) {
      ++ignored;
      continue;
    }
    if (needsALook(m)) addRow(look, m);
    addRow(all, m);
  }
  if (look.numRows() > 0) {
    out += look.toMarkdown() + "\n";
  } else {
    out += "Every compared metric is `same`.\n\n";
  }
  for (const auto& warning : c.warnings) out += "- warning: " + warning + "\n";
  if (!c.warnings.empty()) out += "\n";
  if (!c.configChanges.empty()) out += configTable(c).toMarkdown() + "\n";
  out += "<details><summary>All " + std::to_string(all.numRows()) + " compared metrics (" +
         std::to_string(ignored) +
         " more shown by `moeprof compare` are not part of the verdict)</summary>\n\n" +
         all.toMarkdown() + "\n</details>\n";
  return out;
}

void addVerdictSection(ReportDocument& document, const Comparison& c) {
  auto& s = document.section("Against " + c.labelA + ": " + overall(c));
  s.paragraph("A " + c.labelA + " (" + analysis::setKindName(c.kindA) + ") against B " + c.labelB +
              " (" + analysis::setKindName(c.kindB) + "): " + counts(c) + ". " + method(c) + ".");
  for (const auto& warning : c.warnings) s.note(warning);
  for (const auto& name : c.onlyInA) s.note("only in A: " + name);
  for (const auto& name : c.onlyInB) s.note("only in B: " + name);
  if (!c.configChanges.empty()) s.table(configTable(c), "Configuration differences");
  Table look = emptyTable(), all = emptyTable();
  for (const auto& m : c.metrics) {
    if (!m.verdict) continue;
    if (needsALook(m)) addRow(look, m);
    addRow(all, m);
  }
  if (look.numRows() > 0) {
    s.table(std::move(look), "What needs a look: every verdict but same, and exact changes");
  } else {
    s.paragraph("Every compared metric is same.");
  }
  s.table(std::move(all), "Every compared metric");
}

std::string verdictJson(const Comparison& c) {
  nlohmann::ordered_json root;
  root["schema_version"] = kJsonSchemaVersion;
  root["a"] = {{"label", c.labelA}, {"kind", analysis::setKindName(c.kindA)}};
  root["b"] = {{"label", c.labelB}, {"kind", analysis::setKindName(c.kindB)}};
  root["thresholds"] = c.rulesSource;
  root["alpha"] = c.alpha;
  root["confidence"] = c.confidence;
  root["multiplicity"] = c.multiplicity;
  root["family_size"] = c.familySize;
  root["regressed"] = c.regressed();
  root["counts"] = {{"regressed", c.count(Verdict::Regressed)},
                    {"improved", c.count(Verdict::Improved)},
                    {"same", c.count(Verdict::Same)},
                    {"unknown", c.count(Verdict::Unknown)}};
  root["config_differences"] = nlohmann::ordered_json::array();
  for (const auto& change : c.configChanges) {
    const auto& d = change.difference;
    root["config_differences"].push_back(
        {{"key", d.key},
         {"a", d.a ? nlohmann::ordered_json::parse(*d.a) : nlohmann::ordered_json()},
         {"b", d.b ? nlohmann::ordered_json::parse(*d.b) : nlohmann::ordered_json()},
         {"workload", change.workload}});
  }
  root["only_in_a"] = c.onlyInA;
  root["only_in_b"] = c.onlyInB;
  root["metrics"] = nlohmann::ordered_json::array();
  for (const auto& m : c.metrics) root["metrics"].push_back(metricJson(m));
  root["warnings"] = c.warnings;
  return root.dump(2) + "\n";
}

}  // namespace moeprof::reports
