#include "analysis/statistical_comparison.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include "collector/errors.h"

namespace moeprof::analysis {

namespace {

using nlohmann::json;

// Options that leave the routing of a run unchanged: routing counts are compared only between
// runs that differ in nothing else.
constexpr const char* kRoutingNeutralKeys[] = {"threads", "trace", "allocator", "buffering"};

std::string prefixed(const std::string& run, const std::string& key) {
  return run.empty() ? key : run + "/" + key;
}

std::string formatValue(double value) {
  char text[32];
  // Counts print whole (a change of 43008 bytes, not 4.301e+04); other values 4 digits.
  const bool whole = std::abs(value) < 1e15 && value == std::round(value);
  std::snprintf(text, sizeof text, whole ? "%.0f" : "%.4g", value);
  return text;
}

// One matched pair of runs; `prefix` is empty when two single runs are compared.
struct Pair {
  const ComparableRun* a;
  const ComparableRun* b;
  std::string prefix;
};

std::vector<Pair> matchRuns(const ComparableSet& a, const ComparableSet& b, Comparison& out) {
  const bool singleA = a.kind == SetKind::Run, singleB = b.kind == SetKind::Run;
  if (singleA != singleB && a.kind != SetKind::Baseline && b.kind != SetKind::Baseline) {
    throw InputError("cannot compare a single run with a directory of runs ('" + a.label +
                     "' is a " + setKindName(a.kind) + ", '" + b.label + "' a " +
                     setKindName(b.kind) + "): compare two runs or two directories of runs");
  }
  if (a.runs.size() == 1 && b.runs.size() == 1 && (singleA || singleB)) {
    return {{&a.runs[0], &b.runs[0], ""}};
  }
  std::vector<Pair> pairs;
  std::map<std::string, const ComparableRun*> byName;
  for (const auto& run : b.runs) byName[run.name] = &run;
  for (const auto& run : a.runs) {
    auto it = byName.find(run.name);
    if (it == byName.end()) {
      out.onlyInA.push_back(run.name);
      continue;
    }
    pairs.push_back({&run, it->second, run.name});
    byName.erase(it);
  }
  for (const auto& [name, run] : byName) out.onlyInB.push_back(name);
  return pairs;
}

void addConfigChanges(const Pair& pair, Comparison& out) {
  collector::RunManifest a, b;
  a.config = pair.a->config;
  b.config = pair.b->config;
  RunComparison diff = compareRuns(a, b);
  for (auto& difference : diff.configDifferences) {
    const bool workload = isWorkloadKey(difference.key);
    difference.key = prefixed(pair.prefix, difference.key);
    out.configChanges.push_back({std::move(difference), workload});
  }
}

MetricResult start(const std::string& key, const MetricRule& rule, const std::optional<double>& a,
                   const std::optional<double>& b) {
  MetricResult result;
  result.key = key;
  result.kind = rule.kind;
  result.better = rule.better;
  result.threshold = rule.threshold;
  result.tolerance = rule.tolerance;
  result.a = a;
  result.b = b;
  if (a && b && *a != 0) result.ratio = *b / *a;
  return result;
}

void judgeExact(MetricResult& result) {
  const double a = *result.a, b = *result.b;
  result.verdict = exactVerdict(a, b, result.tolerance, result.better);
  result.changed = a != b;
  if (!result.changed) return;
  std::string change = (b > a ? "+" : "") + formatValue(b - a);
  if (a != 0)
    change += " (" + (b > a ? std::string("+") : "") + formatValue((b / a - 1) * 100) + "%)";
  result.note = *result.verdict == Verdict::Same ? "changed by " + change + ", within tolerance"
                                                 : "changed by " + change;
}

// Starts a timed metric: the test and the interval now, the verdict after Holm's adjustment.
void testTimed(MetricResult& result, const MetricValues& a, const MetricValues& b,
               const ComparisonRules& rules, SetKind kindA) {
  if (!a.samples || !b.samples) {
    const char* side = !a.samples ? "A" : "B";
    result.verdict = Verdict::Unknown;
    result.note = kindA == SetKind::Baseline
                      ? "not in the baseline"
                      : std::string("no per-unit samples in ") + side +
                            " (a run recorded before run.json kept them): rerun it to compare";
    return;
  }
  result.samplesA = static_cast<int>(a.samples->size());
  result.samplesB = static_cast<int>(b.samples->size());
  RankTest test = mannWhitneyU(*a.samples, *b.samples);
  result.pValue = test.pValue;
  result.exactTest = test.exact;
  BootstrapOptions options = rules.bootstrap;
  options.seed = metricSeed(rules.bootstrap.seed, result.key);
  result.interval = bootstrapMedianRatio(*a.samples, *b.samples, options);
  result.a = median(*a.samples);
  result.b = median(*b.samples);
  result.ratio = result.interval->defined ? std::optional(result.interval->ratio) : std::nullopt;
  if (!result.interval->defined) result.note = "a median is 0: no ratio";
}

// Beyond this many repeats the advice to rerun is no advice: the spread, not the sample size,
// is the problem (a loaded machine, a phase that takes microseconds).
constexpr int kMostUsefulRepeats = 1000;

void judgeTimed(MetricResult& result, const ComparisonRules& rules, int familySize,
                double unitsPerRepeat) {
  if (!result.adjustedP) return;  // decided already (no samples)
  result.verdict = timedVerdict(*result.adjustedP, *result.interval, result.threshold,
                                result.better, rules.alpha);
  if (*result.verdict != Verdict::Unknown || !result.interval->defined) return;
  auto needed = samplesNeeded(std::max(result.samplesA, result.samplesB), *result.interval,
                              result.threshold, rules.alpha, familySize);
  if (!needed) {
    result.note = "the ratio sits on the threshold: no number of repeats decides it";
    return;
  }
  const int repeats = static_cast<int>(std::ceil(*needed / std::max(1.0, unitsPerRepeat)));
  result.repeatsNeeded = repeats;
  if (repeats > kMostUsefulRepeats) {
    result.note = "undecided: the samples spread too widely for repeats to decide (about " +
                  std::to_string(repeats) + " needed); measure on a quieter machine";
    return;
  }
  result.note = "undecided: rerun with --repeats " + std::to_string(repeats) + " (about " +
                std::to_string(*needed) + " samples a side)";
}

bool routingComparable(const ComparableRun& a, const ComparableRun& b, std::string& why) {
  json x = a.config, y = b.config;
  for (const char* key : kRoutingNeutralKeys) {
    x.erase(key);
    y.erase(key);
  }
  if (x == y) return true;
  std::vector<std::string> keys;
  for (const auto& [key, value] : x.items()) {
    if (!y.contains(key) || y.at(key) != value) keys.push_back(key);
  }
  for (const auto& [key, value] : y.items()) {
    if (!x.contains(key)) keys.push_back(key);
  }
  why = "not compared: the configurations differ in";
  for (const auto& key : keys) why += " " + key;
  return false;
}

MetricResult routingResult(const Pair& pair, const ComparisonRules& rules) {
  const std::string key = prefixed(pair.prefix, "routing.moved_fraction");
  const auto& ca = pair.a->routingCounts;
  const auto& cb = pair.b->routingCounts;
  std::string why;
  if (!routingComparable(*pair.a, *pair.b, why)) {
    MetricResult result = start(key, MetricRule{}, std::nullopt, std::nullopt);
    result.note = why;
    return result;
  }
  int64_t moved = 0, total = 0;
  std::vector<size_t> changedLayers;
  for (size_t l = 0; l < std::max(ca.size(), cb.size()); ++l) {
    const bool both = l < ca.size() && l < cb.size() && ca[l].size() == cb[l].size();
    int64_t layerMoved = 0;
    for (size_t e = 0; both && e < ca[l].size(); ++e) layerMoved += std::abs(ca[l][e] - cb[l][e]);
    for (size_t e = 0; l < ca.size() && e < ca[l].size(); ++e) total += ca[l][e];
    if (!both)
      layerMoved = 2 * (l < ca.size() ? std::accumulate(ca[l].begin(), ca[l].end(), 0L)
                                      : std::accumulate(cb[l].begin(), cb[l].end(), 0L));
    if (layerMoved > 0) changedLayers.push_back(l);
    moved += layerMoved / 2;  // an assignment that moved leaves one expert and joins another
  }
  const double fraction = total > 0 ? static_cast<double>(moved) / static_cast<double>(total) : 0;
  MetricResult result = start(key, rules.ruleFor(key), 0.0, fraction);
  if (result.kind != MetricKind::Exact) return result;
  judgeExact(result);
  if (moved > 0) {
    std::string layers;
    for (size_t l : changedLayers) layers += (layers.empty() ? "" : ", ") + std::to_string(l);
    result.note = std::to_string(moved) + " of " + std::to_string(total) +
                  " token-expert assignments on another expert (MoE layers " + layers + "); " +
                  result.note;
  }
  return result;
}

// Keys to compare for a pair: both sides' keys; against a baseline, only what it keeps (and
// deterministic metrics it lacks, which a newer moeprof records).
std::vector<std::string> metricKeys(const std::map<std::string, MetricValues>& a,
                                    const std::map<std::string, MetricValues>& b, bool baselineA,
                                    const ComparisonRules& rules, const std::string& prefix) {
  std::set<std::string> keys;
  for (const auto& entry : a) keys.insert(entry.first);
  for (const auto& entry : b) {
    if (!baselineA || rules.ruleFor(prefixed(prefix, entry.first)).kind == MetricKind::Exact) {
      keys.insert(entry.first);
    }
  }
  return {keys.begin(), keys.end()};
}

struct Pending {
  size_t index;  // into Comparison::metrics
  double unitsPerRepeat;
};

// Deterministic metrics count over the whole run: runs of different lengths differ in them
// by construction. Empty when the lengths agree, else why they are not compared.
std::string lengthDifference(const json& a, const json& b) {
  std::string why;
  for (const char* key : {"repeats", "warmup"}) {
    if (a.value(key, json()) != b.value(key, json())) {
      why += std::string(why.empty() ? "" : ", ") + key + " " + a.value(key, json()).dump() +
             " -> " + b.value(key, json()).dump();
    }
  }
  return why.empty() ? why : "not compared: runs of different length (" + why + ")";
}

void compareValues(const std::map<std::string, MetricValues>& a,
                   const std::map<std::string, MetricValues>& b, const std::string& prefix,
                   const ComparisonRules& rules, SetKind kindA, const std::string& lengths,
                   Comparison& out, std::vector<Pending>& timed) {
  static const MetricValues kAbsent;
  for (const auto& key : metricKeys(a, b, kindA == SetKind::Baseline, rules, prefix)) {
    auto ia = a.find(key), ib = b.find(key);
    const MetricValues& va = ia == a.end() ? kAbsent : ia->second;
    const MetricValues& vb = ib == b.end() ? kAbsent : ib->second;
    const std::string full = prefixed(prefix, key);
    const MetricRule rule = rules.ruleFor(full);
    MetricResult result = start(full, rule, va.value, vb.value);
    if (ia == a.end() || ib == b.end()) {
      result.note = ia == a.end() ? "only in B" : "only in A";
    } else if (rule.kind == MetricKind::Timed) {
      testTimed(result, va, vb, rules, kindA);
      if (result.pValue) timed.push_back({out.metrics.size(), vb.unitsPerRepeat});
    } else if (rule.kind == MetricKind::Exact && va.value && vb.value && lengths.empty()) {
      judgeExact(result);
    } else if (rule.kind == MetricKind::Exact) {
      result.note = lengths;
    } else {
      result.note = rule.why;
    }
    out.metrics.push_back(std::move(result));
  }
}

void adjustAndJudge(Comparison& out, const std::vector<Pending>& timed,
                    const ComparisonRules& rules) {
  std::vector<double> p;
  for (const auto& pending : timed) p.push_back(*out.metrics[pending.index].pValue);
  const auto adjusted = holmAdjust(p);
  out.familySize = static_cast<int>(timed.size());
  int fewSamples = 0;
  for (size_t i = 0; i < timed.size(); ++i) {
    MetricResult& result = out.metrics[timed[i].index];
    result.adjustedP = adjusted[i];
    judgeTimed(result, rules, out.familySize, timed[i].unitsPerRepeat);
    fewSamples += std::min(result.samplesA, result.samplesB) < rules.minSamples;
  }
  if (fewSamples > 0) {
    out.warnings.push_back(std::to_string(fewSamples) + " timed metric(s) have fewer than " +
                           std::to_string(rules.minSamples) +
                           " samples on a side: too few for the rank test to be significant "
                           "after the adjustment; rerun with more --repeats");
  }
}

}  // namespace

bool isWorkloadKey(const std::string& configKey) {
  static const std::set<std::string> kKeys = {
      "workload", "preset",          "moe",  "model",       "batch", "seq_len",   "decode_steps",
      "decode",   "generate_tokens", "seed", "tokens_file", "text",  "checkpoint"};
  const auto dot = configKey.find('.');
  return kKeys.count(configKey.substr(0, dot)) > 0;
}

bool Comparison::regressed() const {
  return count(Verdict::Regressed) > 0;
}

int Comparison::count(Verdict verdict) const {
  return static_cast<int>(std::count_if(metrics.begin(), metrics.end(), [&](const auto& m) {
    return m.verdict && *m.verdict == verdict;
  }));
}

std::vector<std::string> Comparison::workloadDifferences() const {
  std::vector<std::string> lines;
  for (const auto& change : configChanges) {
    if (!change.workload) continue;
    const auto& d = change.difference;
    lines.push_back(d.key + " (" + d.a.value_or("absent") + " -> " + d.b.value_or("absent") + ")");
  }
  return lines;
}

Comparison compareSets(const ComparableSet& a, const ComparableSet& b,
                       const ComparisonRules& rules) {
  Comparison out;
  out.labelA = a.label;
  out.labelB = b.label;
  out.kindA = a.kind;
  out.kindB = b.kind;
  out.rulesSource = rules.source;
  out.alpha = rules.alpha;
  out.confidence = rules.bootstrap.confidence;
  std::vector<Pending> timed;
  for (const Pair& pair : matchRuns(a, b, out)) {
    addConfigChanges(pair, out);
    compareValues(pair.a->metrics, pair.b->metrics, pair.prefix, rules, a.kind,
                  lengthDifference(pair.a->config, pair.b->config), out, timed);
    if (!pair.a->routingCounts.empty() && !pair.b->routingCounts.empty()) {
      out.metrics.push_back(routingResult(pair, rules));
    }
    if (!pair.a->complete) out.warnings.push_back("A's run " + pair.a->name + " is incomplete");
    if (!pair.b->complete) out.warnings.push_back("B's run " + pair.b->name + " is incomplete");
  }
  compareValues(a.ratios, b.ratios, "", rules, a.kind, "", out, timed);
  adjustAndJudge(out, timed, rules);
  if (a.kind == SetKind::Baseline) {
    out.warnings.push_back(
        "absolute times are not compared against a baseline: they do not "
        "survive a change of machine (compare runs A and B measured "
        "interleaved on one machine for those)");
  }
  return out;
}

void requireSameWorkloads(const Comparison& comparison) {
  auto lines = comparison.workloadDifferences();
  if (lines.empty()) return;
  std::string message = "the runs measure different workloads; differing configuration keys:";
  for (const auto& line : lines) message += "\n  " + line;
  message += "\npass --allow-different-workloads if the difference is intended";
  throw InputError(message);
}

}  // namespace moeprof::analysis
