#include "analysis/comparison_rules.h"

#include <fstream>
#include <stdexcept>

#include "collector/errors.h"

namespace moeprof::analysis {

// The contents of analysis/thresholds.json (generated at build time, thresholds_data.cpp).
extern const char* const kThresholdsJson;

namespace {

constexpr int kSchemaVersion = 1;
constexpr const char* kFormat = "moeprof-thresholds";

using nlohmann::json;

size_t literalCharacters(const std::string& pattern) {
  size_t count = 0;
  for (char c : pattern) count += c != '*';
  return count;
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw InputError(source + ": " + what);
}

template <typename T>
T number(const json& object, const char* key, T fallback, const std::string& where) {
  if (!object.contains(key)) return fallback;
  if (!object.at(key).is_number()) fail(where, std::string("'") + key + "' must be a number");
  return object.at(key).get<T>();
}

MetricKind parseKind(const std::string& text, const std::string& where) {
  if (text == "timed") return MetricKind::Timed;
  if (text == "exact") return MetricKind::Exact;
  if (text == "ignore") return MetricKind::Ignore;
  fail(where, "kind '" + text + "' is not one of: timed, exact, ignore");
}

Better parseBetter(const std::string& text, const std::string& where) {
  if (text == "lower") return Better::Lower;
  if (text == "higher") return Better::Higher;
  if (text == "none") return Better::None;
  fail(where, "better '" + text + "' is not one of: lower, higher, none");
}

MetricRule parseRule(const json& entry, const std::string& where) {
  if (!entry.is_object() || !entry.contains("pattern") || !entry.at("pattern").is_string()) {
    fail(where, "a rule is an object with a \"pattern\" string");
  }
  MetricRule rule;
  rule.pattern = entry.at("pattern").get<std::string>();
  const std::string at = where + " (pattern '" + rule.pattern + "')";
  rule.kind = parseKind(entry.value("kind", std::string("ignore")), at);
  rule.better = parseBetter(entry.value("better", std::string("lower")), at);
  rule.threshold = number(entry, "threshold", rule.threshold, at);
  rule.tolerance.absolute = number(entry, "absolute_tolerance", 0.0, at);
  rule.tolerance.relative = number(entry, "relative_tolerance", 0.0, at);
  rule.why = entry.value("why", std::string());
  if (rule.kind == MetricKind::Timed && !(rule.threshold > 0)) {
    fail(at, "threshold " + std::to_string(rule.threshold) + " must be above 0");
  }
  if (rule.tolerance.absolute < 0 || rule.tolerance.relative < 0) {
    fail(at, "tolerances must be 0 or more");
  }
  return rule;
}

}  // namespace

const char* metricKindName(MetricKind kind) {
  switch (kind) {
    case MetricKind::Timed:
      return "timed";
    case MetricKind::Exact:
      return "exact";
    case MetricKind::Ignore:
      return "ignore";
  }
  return "ignore";
}

bool globMatch(std::string_view pattern, std::string_view text) {
  // Iterative matching with one backtracking point per `*`: linear for these short names.
  size_t p = 0, t = 0, starP = std::string_view::npos, starT = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      starP = p++;
      starT = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (starP != std::string_view::npos) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

MetricRule ComparisonRules::ruleFor(const std::string& metric) const {
  const auto slash = metric.rfind('/');
  const std::string_view local = slash == std::string::npos
                                     ? std::string_view(metric)
                                     : std::string_view(metric).substr(slash + 1);
  const MetricRule* best = nullptr;
  for (const MetricRule& rule : rules) {
    const bool whole = rule.pattern.find('/') != std::string::npos;
    if (!globMatch(rule.pattern, whole ? std::string_view(metric) : local)) continue;
    if (!best || literalCharacters(rule.pattern) >= literalCharacters(best->pattern)) best = &rule;
  }
  if (best) return *best;
  MetricRule none;
  none.why = "no rule in " + source + " matches";
  return none;
}

ComparisonRules parseComparisonRules(const json& file, const std::string& source) {
  if (!file.is_object() || file.value("format", "") != kFormat ||
      file.value("schema_version", 0) != kSchemaVersion) {
    fail(source, std::string("not a ") + kFormat + " file of schema_version " +
                     std::to_string(kSchemaVersion));
  }
  ComparisonRules rules;
  rules.source = source;
  rules.alpha = number(file, "alpha", rules.alpha, source);
  if (!(rules.alpha > 0 && rules.alpha < 1)) {
    fail(source, "alpha " + std::to_string(rules.alpha) + " must be between 0 and 1");
  }
  rules.bootstrap.confidence = number(file, "confidence", rules.bootstrap.confidence, source);
  if (!(rules.bootstrap.confidence > 0 && rules.bootstrap.confidence < 1)) {
    fail(source, "confidence must be between 0 and 1");
  }
  rules.bootstrap.resamples =
      number(file, "bootstrap_resamples", rules.bootstrap.resamples, source);
  if (rules.bootstrap.resamples < 100) fail(source, "bootstrap_resamples must be 100 or more");
  rules.bootstrap.seed = number(file, "bootstrap_seed", rules.bootstrap.seed, source);
  rules.minSamples = number(file, "min_samples", rules.minSamples, source);
  if (!file.contains("rules") || !file.at("rules").is_array()) {
    fail(source, "\"rules\" must be a list of rules");
  }
  for (const json& entry : file.at("rules")) rules.rules.push_back(parseRule(entry, source));
  return rules;
}

ComparisonRules readComparisonRules(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError("--thresholds '" + path.string() + "': cannot be read");
  json file = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (file.is_discarded()) throw InputError("--thresholds '" + path.string() + "': not JSON");
  return parseComparisonRules(file, path.string());
}

const ComparisonRules& shippedComparisonRules() {
  // The embedded file is part of the build; a test parses it on every CI run.
  static const ComparisonRules rules =
      parseComparisonRules(json::parse(kThresholdsJson), "analysis/thresholds.json");
  return rules;
}

}  // namespace moeprof::analysis
