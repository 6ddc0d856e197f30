#include "reports/reproduction_report.h"

#include <set>

#include "reports/paper_figures.h"

namespace moeprof::reports {

using analysis::PhasePoint;

namespace {

std::string signedPercent(double fraction) {
  return (fraction > 0 ? "+" : "") + formatNumber(fraction * 100.0, 3) + "%";
}

std::string share(double fraction) {
  return formatNumber(fraction * 100.0, 3) + "%";
}

std::string scopeOf(const PhasePoint& p) {
  return p.preset + " " + p.phase + ", batch " + std::to_string(p.batch);
}

std::string runScopeOf(const PhasePoint& p) {
  return p.preset + ", batch " + std::to_string(p.batch);
}

// A row judged by its finding's rule. Where the paper states the finding for another scope
// only (e.g. activation memory at batch 8), the direction is all that can be judged.
ReproductionRow judgedRow(std::string finding, const std::string& key, const std::string& workload,
                          const std::string& figureScope, std::string scope, double measured,
                          std::string (*format)(double)) {
  ReproductionRow row{
      std::move(finding), key, std::move(scope), std::nullopt, measured, format, {}};
  row.paper = paperValue(key, workload, figureScope);
  const auto rule = analysis::findingRule(key);
  row.judgement = analysis::judgeFinding(row.paper, measured, rule);
  if (!row.paper && row.judgement.verdict == analysis::ReproductionVerdict::Reproduced) {
    row.judgement = {analysis::ReproductionVerdict::DirectionReproduced, std::nullopt,
                     "no paper figure at this scope; direction as the paper's"};
  }
  return row;
}

double gatingOverheadShare(const PhasePoint& p) {
  double total = 0, overhead = 0;
  for (const auto& [phase, ms] : p.phaseMs) {
    total += ms;
    if (phase == "gate" || phase == "dispatch" || phase == "combine") overhead += ms;
  }
  return total > 0 ? overhead / total : 0;
}

// Why, from the phase breakdown: the share of time in gating, dispatch and combine.
std::string breakdownReason(const analysis::GatingGain& g) {
  return "gate/dispatch/combine: static " + share(gatingOverheadShare(g.staticRun)) +
         " of its time, dynamic " + share(gatingOverheadShare(g.dynamicRun));
}

void addGainRows(std::vector<ReproductionRow>& rows, const std::vector<PhasePoint>& points) {
  std::set<std::string> activationRowsDone;
  for (const auto& g : analysis::gatingGains(points)) {
    const auto& s = g.staticRun;
    auto gain = judgedRow("dynamic/static throughput", "dynamic_gain", s.workload, s.phase,
                          scopeOf(s), g.throughputGain, formatRatio);
    gain.judgement.reason += "; " + breakdownReason(g);
    rows.push_back(std::move(gain));
    if (!activationRowsDone.insert(runScopeOf(s)).second) continue;
    // The paper states activation memory at batch 8.
    rows.push_back(judgedRow("activation memory, dynamic vs static", "activation_change",
                             s.workload, s.batch == 8 ? "" : "batch " + std::to_string(s.batch),
                             runScopeOf(s), g.activationChange, signedPercent));
  }
}

// The waste factor is E x CF / k at the paper's capacity semantics: comparable only at the
// paper's number of experts (0: not recorded, judged as is).
void addWasteRows(std::vector<ReproductionRow>& rows, const std::vector<PhasePoint>& points) {
  for (const auto& p : points) {
    if (p.gating != "static") continue;
    auto row = judgedRow("static gating waste factor", "waste_factor", p.workload, "", scopeOf(p),
                         p.wasteFactor, formatRatio);
    const auto paperExperts = paperValue("experts", p.workload, "");
    if (paperExperts && p.experts > 0 && p.experts != static_cast<int64_t>(*paperExperts)) {
      row.judgement = analysis::notComparable(row.paper, row.measured,
                                              "E = " + std::to_string(p.experts) + " here, " +
                                                  formatNumber(*paperExperts, 4) +
                                                  " in the paper (waste = E x CF / k)");
    }
    rows.push_back(std::move(row));
  }
}

double peakMemoryBytes(const PhasePoint& p) {
  return static_cast<double>(p.peakWeightBytes + p.runPeakActivationBytes);
}

void addDenseRows(std::vector<ReproductionRow>& rows, const std::vector<PhasePoint>& points) {
  std::set<std::string> memoryRowsDone;
  for (const auto& gap : analysis::denseGaps(points)) {
    const auto& m = gap.moeRun;
    rows.push_back(judgedRow("MoE (static) / dense latency", "moe_dense_latency", m.workload,
                             m.phase, scopeOf(m), gap.latencyRatio, formatRatio));
    if (!memoryRowsDone.insert(m.runDir).second) continue;
    const double dense = peakMemoryBytes(gap.denseRun);
    auto row = judgedRow("MoE (static) / dense peak memory", "peak_memory_ratio", m.workload, "",
                         runScopeOf(m), dense > 0 ? peakMemoryBytes(m) / dense : 0, formatRatio);
    row.judgement.reason +=
        "; weights + activations: " + formatBytes(peakMemoryBytes(m)) + " vs " + formatBytes(dense);
    rows.push_back(std::move(row));
  }
}

void addIdleRows(std::vector<ReproductionRow>& rows,
                 const std::vector<RoutingGroupStatistics>& groups) {
  for (const auto& group : groups) {
    double sum = 0;
    int count = 0;
    for (const auto& run : group.runs) {
      if (const auto* decoder = run.stack(collector::LayerStack::Decoder)) {
        sum += decoder->inactivePerPass;
        ++count;
      }
    }
    if (count == 0) continue;
    rows.push_back(
        judgedRow("MT decoder: inactive experts per step", "idle_share", "mt", "decoder",
                  group.name + " decoder, mean of " + std::to_string(count) + " target languages",
                  sum / count, share));
  }
}

// Mean cosine similarity of expert loads over every pair of a group's runs.
std::optional<double> meanPairCosine(const RoutingGroupStatistics& group,
                                     collector::LayerStack stack) {
  double sum = 0;
  int pairs = 0;
  for (size_t i = 0; i < group.runs.size(); ++i) {
    for (size_t j = i + 1; j < group.runs.size(); ++j) {
      if (!group.runs[i].stack(stack) || !group.runs[j].stack(stack)) continue;
      sum += analysis::loadSimilarity(group.runs[i], group.runs[j], stack).cosine;
      ++pairs;
    }
  }
  if (pairs == 0) return std::nullopt;
  return sum / pairs;
}

const RoutingGroupStatistics* findGroup(const std::vector<RoutingGroupStatistics>& groups,
                                        const std::string& name) {
  for (const auto& g : groups) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

void addSimilarityRows(std::vector<ReproductionRow>& rows,
                       const std::vector<RoutingGroupStatistics>& groups) {
  for (const char* weights : {"trained", "random"}) {
    const auto* lm = findGroup(groups, std::string("lm-") + weights);
    const auto* mt = findGroup(groups, std::string("mt-") + weights);
    if (!lm || !mt) continue;
    auto lmCosine = meanPairCosine(*lm, collector::LayerStack::Lm);
    auto mtCosine = meanPairCosine(*mt, collector::LayerStack::Decoder);
    if (!lmCosine || !mtCosine || *lmCosine <= 0) continue;
    auto row = judgedRow("expert-load similarity, MT languages / LM domains", "similarity", "", "",
                         std::string(weights) + ": MT decoder vs LM, mean pair cosine",
                         *mtCosine / *lmCosine, formatRatio);
    // The paper states it in words: LM hot sets depend on the domain, MT languages route alike.
    row.judgement =
        analysis::judgeFinding(std::nullopt, row.measured, analysis::findingRule("similarity"));
    row.judgement.reason +=
        "; cosine MT " + formatNumber(*mtCosine, 3) + ", LM " + formatNumber(*lmCosine, 3);
    rows.push_back(std::move(row));
  }
}

// ---- The deployment study (reproduce --deployment) -------------------------------------------

using analysis::BufferingFigures;
using analysis::DeploymentPoint;

std::string slotsOf(const DeploymentPoint& p) {
  return std::to_string(p.buffering->slotsPerLayer) + " of " + std::to_string(p.phase.experts) +
         " experts per layer";
}

// What the slow tier cost a buffered run: stall time, bytes read, miss rate.
std::string fetchCost(const BufferingFigures& b) {
  return "stall " + formatNumber(b.stallMs, 3) + " ms, " + formatBytes(b.bytesMoved) +
         " read, miss rate " + share(b.missRate);
}

// The static memory row is comparable at the paper's slots per layer only.
void addBufferingMemoryRows(std::vector<ReproductionRow>& rows,
                            const std::vector<DeploymentPoint>& points) {
  std::set<std::string> runsDone;
  for (const auto& p : points) {
    if (p.ranks != 1 || !p.buffering || p.buffering->prefetch != "off") continue;
    if (!runsDone.insert(p.phase.runDir).second) continue;
    const auto& b = *p.buffering;
    auto row =
        judgedRow("Expert Buffering: static memory, unbuffered / buffered", "buffering_memory_gain",
                  p.phase.workload, "", runScopeOf(p.phase), b.staticMemoryReduction, formatRatio);
    const auto paperSlots = paperValue("cache_slots", "mt", "decoder");
    if (paperSlots && b.slotsPerLayer != static_cast<int64_t>(*paperSlots)) {
      row.judgement =
          analysis::notComparable(row.paper, row.measured,
                                  std::to_string(b.slotsPerLayer) + " slots per layer here, " +
                                      formatNumber(*paperSlots, 3) + " in the paper");
    }
    row.judgement.reason +=
        "; " + slotsOf(p) + ", weights " + formatBytes(b.unbufferedWeightBytes) + " -> " +
        formatBytes(p.phase.peakWeightBytes) + " (slots and read-ahead buffers)";
    rows.push_back(std::move(row));
  }
}

// The paper names the cost of Expert Buffering but gives no number: the direction at best.
void addBufferingLatencyRows(std::vector<ReproductionRow>& rows,
                             const std::vector<DeploymentPoint>& points) {
  for (const auto& cost : analysis::bufferingCosts(points)) {
    const auto& p = cost.buffered.phase;
    auto row =
        judgedRow("Expert Buffering: latency, buffered / unbuffered", "buffering_latency_cost",
                  p.workload, p.phase, scopeOf(p), cost.latencyRatio, formatRatio);
    const bool slower = row.judgement.verdict != analysis::ReproductionVerdict::NotReproduced;
    row.judgement.reason = std::string("the paper names a latency cost, no number: ") +
                           (slower ? "slower here too" : "not slower here") + "; on demand, " +
                           slotsOf(cost.buffered) + "; whole run " +
                           fetchCost(*cost.buffered.buffering);
    rows.push_back(std::move(row));
  }
}

// Why, from the buffering figures of the two runs compared (whole runs): what each stalled and
// read, and how well the pre-gate predicted.
std::string fetchReason(const DeploymentPoint& other, const std::string& otherName,
                        const DeploymentPoint& pregated) {
  const auto& b = *pregated.buffering;
  std::string reason =
      otherName + " " + fetchCost(*other.buffering) + "; pre-gated " + fetchCost(b);
  if (b.prefetchPrecision && b.prefetchRecall) {
    reason += "; pre-gate precision " + share(*b.prefetchPrecision) + ", recall " +
              share(*b.prefetchRecall);
  }
  return reason;
}

// The MoE block's milliseconds per unit, other / pre-gated.
std::string blockReason(const DeploymentPoint& other, const DeploymentPoint& pregated) {
  return "MoE block " + formatNumber(analysis::moeBlockMs(other.phase), 3) + " vs " +
         formatNumber(analysis::moeBlockMs(pregated.phase), 3) + " ms/unit";
}

ReproductionRow prefetchRow(std::string finding, const std::string& key, const PhasePoint& p,
                            double measured, const std::string& reason) {
  auto row = judgedRow(std::move(finding), key, "", "", scopeOf(p), measured, formatRatio);
  row.judgement.reason += "; " + reason;
  return row;
}

void addPrefetchRows(std::vector<ReproductionRow>& rows,
                     const std::vector<DeploymentPoint>& points) {
  for (const auto& c : analysis::prefetchComparisons(points)) {
    const auto& p = c.pregated.phase;
    const std::string onDemandReason = fetchReason(c.onDemand, "on demand", c.pregated);
    rows.push_back(prefetchRow("throughput, pre-gated / on-demand", "pregate_throughput_gain", p,
                               c.throughputGain, onDemandReason));
    rows.push_back(prefetchRow("MoE block latency, on-demand / pre-gated",
                               "pregate_block_gain_ondemand", p, c.blockGainOverOnDemand,
                               blockReason(c.onDemand, c.pregated) + "; " + onDemandReason));
    if (!c.blockGainOverAll) continue;
    rows.push_back(prefetchRow("MoE block latency, all-prefetch / pre-gated",
                               "pregate_block_gain_prefetch", p, *c.blockGainOverAll,
                               blockReason(*c.prefetchAll, c.pregated) + "; " +
                                   fetchReason(*c.prefetchAll, "all", c.pregated)));
  }
}

std::string maxLoadText(const DeploymentPoint& p) {
  return p.perPassMaxLoad ? formatNumber(*p.perPassMaxLoad, 3) : "?";
}

void addPlacementRows(std::vector<ReproductionRow>& rows,
                      const std::vector<DeploymentPoint>& points) {
  for (const auto& g : analysis::placementGains(points)) {
    const auto& p = g.balanced.phase;
    auto row = judgedRow("throughput change, " + g.balanced.placement + " / round-robin placement",
                         "balancing_gain", p.workload, p.phase,
                         scopeOf(p) + ", " + std::to_string(g.balanced.ranks) + " ranks",
                         g.throughputChange, signedPercent);
    row.judgement.reason +=
        "; per-pass Max Load " + maxLoadText(g.roundRobin) + " -> " + maxLoadText(g.balanced);
    rows.push_back(std::move(row));
  }
}

std::string shown(std::optional<double> value, std::string (*format)(double)) {
  return value ? format(*value) : "-";
}

}  // namespace

std::vector<ReproductionRow> gatingReproductionRows(const std::vector<PhasePoint>& points) {
  std::vector<ReproductionRow> rows;
  addGainRows(rows, points);
  addWasteRows(rows, points);
  addDenseRows(rows, points);
  return rows;
}

std::vector<ReproductionRow> routingReproductionRows(
    const std::vector<RoutingGroupStatistics>& groups) {
  std::vector<ReproductionRow> rows;
  addIdleRows(rows, groups);
  addSimilarityRows(rows, groups);
  return rows;
}

std::vector<ReproductionRow> deploymentReproductionRows(
    const std::vector<DeploymentPoint>& points) {
  std::vector<ReproductionRow> rows;
  addBufferingMemoryRows(rows, points);
  addBufferingLatencyRows(rows, points);
  addPrefetchRows(rows, points);
  addPlacementRows(rows, points);
  return rows;
}

Table reproductionTable(const std::vector<ReproductionRow>& rows) {
  Table table({"finding", "scope", "paper", "measured", "ratio", "verdict", "reason"},
              {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right, Align::Left,
               Align::Left});
  for (const auto& r : rows) {
    const auto& j = r.judgement;
    table.addRow({r.finding, r.scope, shown(r.paper, r.format), shown(r.measured, r.format),
                  j.ratio ? formatNumber(*j.ratio, 3) : "-",
                  analysis::reproductionVerdictName(j.verdict), j.reason});
  }
  return table;
}

nlohmann::json reproductionJson(const std::vector<ReproductionRow>& rows) {
  auto orNull = [](std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
  auto out = nlohmann::json::array();
  for (const auto& r : rows) {
    out.push_back({{"finding", r.finding},
                   {"paper_key", r.key},
                   {"scope", r.scope},
                   {"paper", orNull(r.paper)},
                   {"measured", orNull(r.measured)},
                   {"ratio", orNull(r.judgement.ratio)},
                   {"verdict", analysis::reproductionVerdictName(r.judgement.verdict)},
                   {"reason", r.judgement.reason}});
  }
  return out;
}

std::string verdictRulesText() {
  return "Verdicts: \"reproduced\" when measured / paper lies within the finding's tolerance "
         "(2% for the waste factor, E x CF / k up to the rounding up of the capacity; 15% for "
         "shares; 25% for timings and memory of the scaled-down presets), \"direction "
         "reproduced\" when the measurement is on the paper's side of no effect (1 for ratios, 0 "
         "for changes, 50% for shares) but outside the tolerance, \"not reproduced\" when it is "
         "not, \"not comparable\" when a setting that decides the value differs from the paper's "
         "(named in the reason). The rules are analysis/reproduction_verdict.h.";
}

Table provenanceTable(const nlohmann::json& provenance) {
  Table table({"item", "value"}, {Align::Left, Align::Left});
  auto text = [](const nlohmann::json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  for (const auto& [key, value] : provenance.items()) {
    if (!value.is_object()) {
      table.addRow({key, text(value)});
      continue;
    }
    for (const auto& [name, inner] : value.items()) table.addRow({key + " " + name, text(inner)});
  }
  return table;
}

std::string reproducibilityText(const nlohmann::json& provenance) {
  const bool pinned = provenance.is_object() && provenance.value("corpus_packages", 0) > 0;
  return std::string(pinned
                         ? "The corpus was built from a pinned package root"
                         : "The corpus was built from the files this machine has installed "
                           "(root /), so another machine with other packages builds another "
                           "corpus: pin it with scripts/corpus_sources.sh and `moeprof corpus "
                           "--root` (the script downloads Debian packages, so it needs network)") +
         ". With the same corpus fingerprint, the corpus and its tokenizers are identical byte for "
         "byte on another machine, and the trained weights given the same CPU kind and thread "
         "count (the checkpoint id is random per save and differs); routing counts, waste factors "
         "and cache and placement figures then follow exactly. Timings, throughput ratios and "
         "peak activation memory vary with the machine and its load: they are compared within the "
         "tolerances of the verdicts above.";
}

}  // namespace moeprof::reports
