#include "reports/gating_report.h"

#include "reports/paper_figures.h"

namespace moeprof::reports {

using analysis::PhasePoint;

namespace {

std::string gainAgainstStatic(const PhasePoint& p, const std::vector<analysis::GatingGain>& gains) {
  if (p.gating == "static") return "1.00x";
  for (const auto& g : gains) {
    if (g.dynamicRun.runDir == p.runDir && g.dynamicRun.phase == p.phase) {
      return formatRatio(g.throughputGain);
    }
  }
  return "-";
}

}  // namespace

std::string deploymentSourcesText() {
  std::string text =
      "Deployment rows (reproduce --deployment): Expert Buffering and placement from " +
      paperShortName("huang2023") + ", prefetching from " + paperShortName("hwang2024");
  for (const auto& source : paperSources()) {
    if (source.key == "hwang2024") text += " (" + source.setting + ")";
  }
  return text +
         "; measured here with experts read from disk by direct I/O and ranks over Gloo "
         "on one CPU.";
}

Table sweepTable(const std::vector<PhasePoint>& points) {
  auto gains = analysis::gatingGains(points);
  Table table({"preset", "phase", "batch", "gating", "tokens/s", "p50 ms", "p90 ms",
               "peak activation", "waste", "dropped", "vs static"},
              {Align::Left, Align::Left, Align::Right, Align::Left, Align::Right, Align::Right,
               Align::Right, Align::Right, Align::Right, Align::Right, Align::Right});
  for (const auto& p : points) {
    table.addRow({p.preset, p.phase, std::to_string(p.batch), p.gating,
                  formatNumber(p.tokensPerS, 4), formatNumber(p.latencyMedianMs, 4),
                  formatNumber(p.latencyP90Ms, 4), formatBytes(p.peakActivationBytes),
                  formatRatio(p.wasteFactor), std::to_string(p.droppedTokens),
                  gainAgainstStatic(p, gains)});
  }
  return table;
}

Table phaseBreakdownTable(const std::vector<PhasePoint>& points) {
  const std::vector<std::string> phases = {"gate",    "dispatch",  "experts",
                                           "combine", "attention", "other"};
  std::vector<std::string> headers = {"preset", "phase", "batch", "gating"};
  std::vector<Align> align = {Align::Left, Align::Left, Align::Right, Align::Left};
  for (const auto& ph : phases) {
    headers.push_back(ph + " ms");
    align.push_back(Align::Right);
  }
  Table table(headers, align);
  for (const auto& p : points) {
    std::vector<std::string> row = {p.preset, p.phase, std::to_string(p.batch), p.gating};
    for (const auto& ph : phases) {
      auto it = p.phaseMs.find(ph);
      row.push_back(it == p.phaseMs.end() ? "-" : formatNumber(it->second, 3));
    }
    table.addRow(row);
  }
  return table;
}

Table reproductionTable(const std::vector<PhasePoint>& points) {
  return reproductionTable(gatingReproductionRows(points));
}

std::vector<ReproductionRow> allRows(const std::vector<PhasePoint>& points,
                                     const ReproductionExtras& extras) {
  auto rows = gatingReproductionRows(points);
  for (const auto* more : {&extras.routingRows, &extras.deploymentRows}) {
    rows.insert(rows.end(), more->begin(), more->end());
  }
  return rows;
}

std::string gatingReportMarkdown(const std::string& title, const std::vector<PhasePoint>& points,
                                 const ReproductionExtras& extras) {
  std::string md = "# " + title + "\n\n";
  md +=
      "## Measured beside the paper\n\n" + reproductionTable(allRows(points, extras)).toMarkdown();
  md += "\n" + verdictRulesText() + "\n";
  md += "\nPaper figures: " + paperShortName("huang2023") + ", as listed with their sections in " +
        kPaperFiguresFile + "; the paper ran on V100 GPUs at full model size, these runs on the " +
        "presets named in each row.\n";
  if (!extras.deploymentRows.empty()) md += "\n" + deploymentSourcesText() + "\n";
  if (!extras.provenance.is_null()) {
    md += "\n## What the trained models were built from\n\n" +
          provenanceTable(extras.provenance).toMarkdown() + "\n" +
          reproducibilityText(extras.provenance) + "\n";
  }
  md += "\n## Every run\n\n" + sweepTable(points).toMarkdown();
  md += "\n## Where the time goes (ms per batch or decoding step)\n\n" +
        phaseBreakdownTable(points).toMarkdown();
  return md;
}

nlohmann::json gatingReportJson(const std::vector<PhasePoint>& points,
                                const ReproductionExtras& extras) {
  nlohmann::json out = {{"reproduction", reproductionJson(allRows(points, extras))},
                        {"points", nlohmann::json::array()},
                        {"gating_gains", nlohmann::json::array()},
                        {"dense_gaps", nlohmann::json::array()}};
  for (const auto& p : points) {
    out["points"].push_back({{"run", p.runDir},
                             {"preset", p.preset},
                             {"workload", p.workload},
                             {"gating", p.gating},
                             {"batch", p.batch},
                             {"phase", p.phase},
                             {"tokens_per_s", p.tokensPerS},
                             {"latency_median_ms", p.latencyMedianMs},
                             {"latency_p90_ms", p.latencyP90Ms},
                             {"waste_factor", p.wasteFactor},
                             {"dropped_tokens", p.droppedTokens},
                             {"peak_activation_bytes", p.peakActivationBytes},
                             {"phase_ms", p.phaseMs}});
  }
  auto paper = [](std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
  for (const auto& g : analysis::gatingGains(points)) {
    const auto& s = g.staticRun;
    out["gating_gains"].push_back(
        {{"preset", s.preset},
         {"phase", s.phase},
         {"batch", s.batch},
         {"throughput_gain", g.throughputGain},
         {"activation_change", g.activationChange},
         {"paper_throughput_gain", paper(paperValue("dynamic_gain", s.workload, s.phase))}});
  }
  for (const auto& gap : analysis::denseGaps(points)) {
    const auto& m = gap.moeRun;
    out["dense_gaps"].push_back(
        {{"preset", m.preset},
         {"dense_preset", gap.denseRun.preset},
         {"phase", m.phase},
         {"batch", m.batch},
         {"latency_ratio", gap.latencyRatio},
         {"paper_latency_ratio", paper(paperValue("moe_dense_latency", m.workload, m.phase))}});
  }
  if (!extras.provenance.is_null()) out["provenance"] = extras.provenance;
  return out;
}

}  // namespace moeprof::reports
