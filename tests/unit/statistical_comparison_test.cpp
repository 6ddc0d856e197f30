// compareSets on runs that differ by known amounts: timed metrics slowed or sped up by a known
// factor, deterministic metrics changed by a known count, too few samples, runs recorded
// before samples were kept, sets matched by name, side-by-side ratios and baselines.
#include "analysis/statistical_comparison.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "collector/errors.h"

namespace moeprof::analysis {
namespace {

using nlohmann::json;

// Latency samples around `ms` with a little deterministic jitter (+-2%).
std::vector<double> samplesAround(double ms, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> jitter(0.98, 1.02);
  std::vector<double> values;
  for (int i = 0; i < n; ++i) values.push_back(ms * jitter(rng));
  return values;
}

json lmConfig(const std::string& gating = "dynamic", int64_t batch = 8) {
  return {{"workload", "lm"}, {"preset", "lm-tiny"},
          {"moe", true},      {"gating", gating},
          {"batch", batch},   {"seq_len", 8},
          {"repeats", 20},    {"seed", 1},
          {"threads", 2},     {"model", {{"d_model", 16}, {"layers", 4}}}};
}

// A run.json metrics object with per-unit samples of the forward phase.
json lmMetrics(const std::vector<double>& latency, const std::vector<double>& experts, double waste,
               int64_t dropped) {
  json phaseSamples = {{"experts", experts}};
  return {{"forward",
           {{"units", latency.size()},
            {"latency_ms", {{"median", median(latency)}}},
            {"phase_ms", {{"experts", median(experts)}}},
            {"waste_factor", waste},
            {"dropped_tokens", dropped},
            {"tokens_per_s", 1000.0},
            {"samples", {{"latency_ms", latency}, {"phase_ms", phaseSamples}}}}},
          {"peak_weight_bytes", 4096}};
}

ComparableSet single(const std::string& name, const json& config, const json& metrics) {
  ComparableSet set;
  set.label = name;
  set.runs.push_back(comparableRun(name, config, metrics, true));
  return set;
}

const MetricResult& find(const Comparison& c, const std::string& key) {
  for (const auto& m : c.metrics) {
    if (m.key == key) return m;
  }
  throw std::runtime_error("no metric " + key);
}

TEST(CompareSets, KnownSlowdownRegressesAndSpeedupImproves) {
  auto base =
      single("a", lmConfig(), lmMetrics(samplesAround(10, 20, 1), samplesAround(4, 20, 2), 1.0, 0));
  // B: latency 1.5x, experts phase 0.6x (known amounts, well beyond the 10% thresholds).
  auto changed = single("b", lmConfig(),
                        lmMetrics(samplesAround(15, 20, 3), samplesAround(2.4, 20, 4), 1.0, 0));
  Comparison c = compareSets(base, changed, shippedComparisonRules());
  const auto& latency = find(c, "forward.latency_ms");
  EXPECT_EQ(latency.verdict, Verdict::Regressed);
  EXPECT_NEAR(*latency.ratio, 1.5, 0.05);
  EXPECT_LT(latency.interval->low, *latency.ratio);
  EXPECT_GT(latency.interval->low, 1.1);
  EXPECT_TRUE(latency.exactTest) << "20 + 20 samples: the exact test";
  const auto& experts = find(c, "forward.phase_ms.experts");
  EXPECT_EQ(experts.verdict, Verdict::Improved);
  EXPECT_NEAR(*experts.ratio, 0.6, 0.03);
  EXPECT_EQ(c.familySize, 2);
  EXPECT_GE(*latency.adjustedP, *latency.pValue) << "Holm never lowers a p-value";
  EXPECT_TRUE(c.regressed());
  EXPECT_FALSE(find(c, "forward.tokens_per_s").verdict.has_value()) << "ignored: a summary";
}

TEST(CompareSets, SmallNoiseIsSame) {
  auto a =
      single("a", lmConfig(), lmMetrics(samplesAround(10, 20, 5), samplesAround(4, 20, 6), 1, 0));
  auto b =
      single("b", lmConfig(), lmMetrics(samplesAround(10.1, 20, 7), samplesAround(4, 20, 8), 1, 0));
  Comparison c = compareSets(a, b, shippedComparisonRules());
  EXPECT_EQ(find(c, "forward.latency_ms").verdict, Verdict::Same);
  EXPECT_EQ(find(c, "forward.phase_ms.experts").verdict, Verdict::Same);
  EXPECT_FALSE(c.regressed());
}

TEST(CompareSets, FewSamplesAreUnknownWithTheRepeatsNeeded) {
  // 3 samples a side: no 3-vs-3 rank test reaches 0.01, so even a 50% slowdown is unknown.
  auto a = single("a", lmConfig(), lmMetrics({10, 11, 9}, {4, 4.2, 3.9}, 1, 0));
  auto b = single("b", lmConfig(), lmMetrics({15, 16, 14}, {4, 4.1, 4}, 1, 0));
  Comparison c = compareSets(a, b, shippedComparisonRules());
  const auto& latency = find(c, "forward.latency_ms");
  EXPECT_EQ(latency.verdict, Verdict::Unknown);
  ASSERT_TRUE(latency.repeatsNeeded.has_value());
  EXPECT_GE(*latency.repeatsNeeded, 6) << "2 metrics: 2/C(2n,n) x 2 < 0.01 needs n >= 6";
  EXPECT_NE(latency.note.find("--repeats"), std::string::npos) << latency.note;
  ASSERT_FALSE(c.warnings.empty());
  EXPECT_NE(c.warnings[0].find("fewer than 9"), std::string::npos);
}

TEST(CompareSets, DeterministicChangesAreReportedExactly) {
  auto a = single("a", lmConfig(),
                  lmMetrics(samplesAround(10, 12, 1), samplesAround(4, 12, 2), 12.8, 10));
  auto b = single("b", lmConfig(),
                  lmMetrics(samplesAround(10, 12, 1), samplesAround(4, 12, 2), 25.6, 7));
  Comparison c = compareSets(a, b, shippedComparisonRules());
  const auto& waste = find(c, "forward.waste_factor");
  EXPECT_EQ(waste.verdict, Verdict::Regressed);
  EXPECT_DOUBLE_EQ(*waste.ratio, 2.0);
  EXPECT_TRUE(waste.changed);
  EXPECT_NE(waste.note.find("+100%"), std::string::npos) << waste.note;
  const auto& dropped = find(c, "forward.dropped_tokens");
  EXPECT_EQ(dropped.verdict, Verdict::Improved);
  EXPECT_NE(dropped.note.find("-3"), std::string::npos) << dropped.note;
  EXPECT_EQ(find(c, "peak_weight_bytes").verdict, Verdict::Same);
  EXPECT_TRUE(c.regressed());
}

TEST(CompareSets, RunsWithoutSamplesAreUnknownWithAMessage) {
  // The shape of run.json before per-unit samples were kept (tests/fixtures/routing/*).
  json old = {{"forward",
               {{"units", 5},
                {"latency_ms", {{"median", 10.0}, {"p90", 11.0}}},
                {"phase_ms", {{"experts", 4.0}}},
                {"waste_factor", 1.0}}}};
  auto a = single("old", lmConfig(), old);
  auto b =
      single("new", lmConfig(), lmMetrics(samplesAround(20, 12, 1), samplesAround(8, 12, 2), 1, 0));
  Comparison c = compareSets(a, b, shippedComparisonRules());
  for (const char* key : {"forward.latency_ms", "forward.phase_ms.experts"}) {
    const auto& m = find(c, key);
    EXPECT_EQ(m.verdict, Verdict::Unknown) << key;
    EXPECT_NE(m.note.find("no per-unit samples in A"), std::string::npos) << m.note;
  }
  EXPECT_FALSE(c.regressed()) << "a doubling without samples is not judged";
}

TEST(CompareSets, WorkloadDifferencesAreListedOptionsAreNot) {
  auto a = single("a", lmConfig("static", 8), lmMetrics({10}, {4}, 1, 0));
  auto b = single("b", lmConfig("dynamic", 16), lmMetrics({10}, {4}, 1, 0));
  Comparison c = compareSets(a, b, shippedComparisonRules());
  ASSERT_EQ(c.configChanges.size(), 2u);
  EXPECT_EQ(c.configChanges[0].difference.key, "batch");
  EXPECT_TRUE(c.configChanges[0].workload);
  EXPECT_EQ(c.configChanges[1].difference.key, "gating");
  EXPECT_FALSE(c.configChanges[1].workload);
  try {
    requireSameWorkloads(c);
    FAIL() << "different batches must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("batch (8 -> 16)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--allow-different-workloads"), std::string::npos);
  }
  auto sameWork = single("c", lmConfig("static", 16), lmMetrics({10}, {4}, 1, 0));
  EXPECT_NO_THROW(requireSameWorkloads(compareSets(sameWork, b, shippedComparisonRules())));
}

TEST(CompareSets, RoutingCountsMovedByAKnownAmount) {
  auto a = single("a", lmConfig(), lmMetrics({10}, {4}, 1, 0));
  auto b = a;
  a.runs[0].routingCounts = {{10, 20, 30, 40}, {25, 25, 25, 25}};
  b.runs[0].routingCounts = {{10, 20, 30, 40}, {22, 28, 25, 25}};  // 3 of 200 moved, layer 1
  Comparison c = compareSets(a, b, shippedComparisonRules());
  const auto& routing = find(c, "routing.moved_fraction");
  EXPECT_DOUBLE_EQ(*routing.b, 3.0 / 200.0);
  EXPECT_EQ(routing.verdict, Verdict::Regressed);
  EXPECT_NE(routing.note.find("3 of 200"), std::string::npos) << routing.note;
  EXPECT_NE(routing.note.find("MoE layers 1"), std::string::npos) << routing.note;
  b.runs[0].config["gating"] = "static";  // a different run: routing is not comparable
  Comparison other = compareSets(a, b, shippedComparisonRules());
  EXPECT_FALSE(find(other, "routing.moved_fraction").verdict.has_value());
}

// Two sweeps (static and dynamic of one preset each) matched by name; B's dynamic run is 2x
// slower, so its speedup over static (measured side by side in each sweep) halves.
TEST(CompareSets, RunSetsMatchByNameWithSideBySideRatios) {
  auto sweep = [](double dynamicMs, uint64_t seed) {
    ComparableSet set;
    set.label = "sweep";
    set.kind = SetKind::RunSet;
    set.runs.push_back(comparableRun(
        "lm-static", lmConfig("static"),
        lmMetrics(samplesAround(40, 12, seed), samplesAround(30, 12, seed + 1), 0.25, 3), true));
    set.runs.push_back(comparableRun("lm-dynamic", lmConfig("dynamic"),
                                     lmMetrics(samplesAround(dynamicMs, 12, seed + 2),
                                               samplesAround(dynamicMs / 2, 12, seed + 3), 1, 0),
                                     true));
    set.ratios = sideBySideRatios(set.runs);
    return set;
  };
  auto a = sweep(10, 10), b = sweep(20, 20);
  ASSERT_EQ(a.ratios.count("lm-dynamic/forward.speedup_vs_static"), 1u);
  EXPECT_NEAR(*a.ratios.at("lm-dynamic/forward.speedup_vs_static").value, 4.0, 0.15);
  b.runs.push_back(comparableRun("only-b", lmConfig(), lmMetrics({1}, {1}, 1, 0), true));
  Comparison c = compareSets(a, b, shippedComparisonRules());
  EXPECT_EQ(c.onlyInB, std::vector<std::string>{"only-b"});
  EXPECT_EQ(find(c, "lm-dynamic/forward.latency_ms").verdict, Verdict::Regressed);
  EXPECT_EQ(find(c, "lm-static/forward.latency_ms").verdict, Verdict::Same);
  const auto& speedup = find(c, "lm-dynamic/forward.speedup_vs_static");
  EXPECT_EQ(speedup.verdict, Verdict::Regressed) << "higher is better: halved";
  EXPECT_NEAR(*speedup.ratio, 0.5, 0.05);
}

TEST(CompareSets, BaselineKeepsWhatSurvivesAChangeOfMachine) {
  ComparableSet set;
  set.label = "runs";
  set.kind = SetKind::RunSet;
  set.runs.push_back(
      comparableRun("lm-static", lmConfig("static"),
                    lmMetrics(samplesAround(40, 12, 1), samplesAround(30, 12, 2), 12.8, 3), true));
  set.runs.push_back(
      comparableRun("lm-dynamic", lmConfig("dynamic"),
                    lmMetrics(samplesAround(10, 12, 3), samplesAround(5, 12, 4), 1, 0), true));
  set.runs[0].routingCounts = {{1, 2}, {3, 0}};
  set.ratios = sideBySideRatios(set.runs);
  std::string text = baselineText(set, shippedComparisonRules(), "test");
  EXPECT_EQ(text.find("latency_ms\""), std::string::npos) << "no absolute times:\n" << text;
  EXPECT_NE(text.find("\"forward.waste_factor\": 12.8"), std::string::npos) << text;
  EXPECT_NE(text.find("\n        [1,2],\n        [3,0]\n"), std::string::npos)
      << "one line per list of numbers:\n"
      << text;
  ComparableSet baseline = parseBaseline(json::parse(text), "baseline.json");
  EXPECT_EQ(baseline.kind, SetKind::Baseline);

  // The same runs against their baseline: nothing changed.
  Comparison same = compareSets(baseline, set, shippedComparisonRules());
  EXPECT_FALSE(same.regressed());
  EXPECT_EQ(same.count(Verdict::Regressed), 0);
  EXPECT_EQ(find(same, "lm-static/forward.waste_factor").verdict, Verdict::Same);
  EXPECT_EQ(find(same, "lm-dynamic/forward.speedup_vs_static").verdict, Verdict::Same);
  for (const auto& m : same.metrics)
    EXPECT_EQ(m.key.find(".latency_ms"), std::string::npos) << m.key;

  // A changed deterministic metric fires the gate.
  set.runs[0].metrics["forward.waste_factor"].value = 13.0;
  Comparison changed = compareSets(baseline, set, shippedComparisonRules());
  EXPECT_EQ(find(changed, "lm-static/forward.waste_factor").verdict, Verdict::Regressed);
  EXPECT_TRUE(changed.regressed());
}

TEST(ComparisonRules, MostSpecificPatternWins) {
  json file = {{"format", "moeprof-thresholds"},
               {"schema_version", 1},
               {"rules",
                {{{"pattern", "*"}, {"kind", "ignore"}},
                 {{"pattern", "*.latency_ms"}, {"kind", "timed"}, {"threshold", 0.1}},
                 {{"pattern", "decoder.latency_ms"}, {"kind", "timed"}, {"threshold", 0.3}},
                 {{"pattern", "mt-*/decoder.latency_ms"}, {"kind", "ignore"}}}}};
  auto rules = parseComparisonRules(file, "t.json");
  EXPECT_EQ(rules.ruleFor("forward.latency_ms").threshold, 0.1);
  EXPECT_EQ(rules.ruleFor("decoder.latency_ms").threshold, 0.3);
  EXPECT_EQ(rules.ruleFor("lm-x/decoder.latency_ms").threshold, 0.3);
  EXPECT_EQ(rules.ruleFor("mt-x/decoder.latency_ms").kind, MetricKind::Ignore);
  EXPECT_EQ(rules.ruleFor("forward.waste_factor").kind, MetricKind::Ignore);
  EXPECT_TRUE(globMatch("a*b*c", "a.x.b.y.c"));
  EXPECT_FALSE(globMatch("a*b", "a.x.c"));
}

TEST(ComparisonRules, ShippedFileParsesAndBadFilesAreRefused) {
  const auto& rules = shippedComparisonRules();
  EXPECT_EQ(rules.alpha, 0.01);
  EXPECT_EQ(rules.minSamples, 9);
  EXPECT_EQ(rules.ruleFor("encoder.latency_ms").kind, MetricKind::Timed);
  EXPECT_EQ(rules.ruleFor("x/decoder.waste_factor").kind, MetricKind::Exact);
  json bad = {{"format", "moeprof-thresholds"},
              {"schema_version", 1},
              {"rules", {{{"pattern", "*"}, {"kind", "sometimes"}}}}};
  try {
    parseComparisonRules(bad, "bad.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sometimes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parseComparisonRules({{"format", "x"}}, "x.json"), InputError);
}

}  // namespace
}  // namespace moeprof::analysis
