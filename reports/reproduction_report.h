#pragma once
// The rows of "Measured beside the paper": for each finding the paper's figure (from
// reports/paper_figures.json), the measured value, their ratio and a verdict with a one-line
// reason (analysis/reproduction_verdict.h holds the rules). Rows come from the gating study
// (static, dynamic and dense runs) and, where reproduce characterized routing on real text,
// from the routing statistics of each LM domain and MT target language, and where reproduce ran
// its deployment study (--deployment), from live runs with Expert Buffering, prefetching and
// expert placement.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/deployment_study.h"
#include "analysis/gating_study.h"
#include "analysis/reproduction_verdict.h"
#include "analysis/routing_statistics.h"
#include "reports/table.h"

namespace moeprof::reports {

struct ReproductionRow {
  std::string finding;  // what is compared, e.g. "dynamic/static throughput"
  std::string key;      // the finding's key in reports/paper_figures.json
  std::string scope;    // preset, phase and batch, or the routing group
  std::optional<double> paper;
  std::optional<double> measured;
  std::string (*format)(double) = nullptr;  // how paper and measured values are shown
  analysis::Judgement judgement;
};

// Dynamic vs static throughput and activation memory, static gating's waste factor, MoE vs
// dense latency and peak memory.
std::vector<ReproductionRow> gatingReproductionRows(
    const std::vector<analysis::PhasePoint>& points);

// reproduce's routing/<name>/ group: one model on every LM domain or MT target language.
struct RoutingGroupStatistics {
  std::string name;  // "lm-trained", "mt-random", ...
  std::vector<analysis::RoutingStatistics> runs;
};

// Inactive experts per decoding step in the MT decoder, and whether MT target languages route
// more alike than LM domains (for each weights kind that has both an LM and an MT group).
std::vector<ReproductionRow> routingReproductionRows(
    const std::vector<RoutingGroupStatistics>& groups);

// Expert Buffering's static memory saving and latency cost, on-demand vs pre-gated vs
// all-prefetch fetching, and the throughput change of balanced placements over round-robin.
std::vector<ReproductionRow> deploymentReproductionRows(
    const std::vector<analysis::DeploymentPoint>& points);

// What reproduce adds to a sweep's summary: the rows of routing on real text and of the
// deployment study, and what its trained models were built from (null when it trained none):
// corpus_fingerprint, corpus_root, corpus_packages (count of pinned packages, 0 for the
// machine's own files), tokenizers (name -> hash of the model file), checkpoints (workload ->
// checkpoint id).
struct ReproductionExtras {
  std::vector<ReproductionRow> routingRows;
  std::vector<ReproductionRow> deploymentRows;
  nlohmann::json provenance;
};

// item | value, one row per entry of ReproductionExtras::provenance.
Table provenanceTable(const nlohmann::json& provenance);
// What another machine gets identical and what only within a tolerance.
std::string reproducibilityText(const nlohmann::json& provenance);

// finding | scope | paper | measured | ratio | verdict | reason
Table reproductionTable(const std::vector<ReproductionRow>& rows);
// One object per row; values absent are null.
nlohmann::json reproductionJson(const std::vector<ReproductionRow>& rows);
// The verdict rules in two sentences, for the summary and the HTML report.
std::string verdictRulesText();

}  // namespace moeprof::reports
