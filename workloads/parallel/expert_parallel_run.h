#pragma once
// The run-directory side of an expert-parallel run: per-rank file names, merging what the ranks
// measured and recorded into rank 0's run.json and routing.bin, and the placement's Max Load /
// Avg Max Load on the run's own routing. Torch-free.
//
// Layout of an N-rank run directory: run.json (rank 0 writes it; metrics merged over the ranks,
// each rank's own metrics under metrics.ranks[r]), routing.bin (every rank's tokens, one record
// per batch, layer and step as a 1-rank run of the whole batch writes it; each rank writes
// routing.rankR.bin while running, rank 0 merges and removes them), trace.sqlite (rank 0's
// trace) and trace.rankR.sqlite (rank R's, R >= 1) with --trace ops|full.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/placement.h"

namespace moeprof::workloads {

// "trace.sqlite" -> "trace.rank2.sqlite"; rank 0 of a multi-rank run keeps the plain name only
// where `plainForRankZero` says so.
std::string rankFileName(const std::string& name, int rank, bool plainForRankZero);

// Run metrics merged over ranks (rank order): per phase, tokens_per_s and the token counters
// are summed (the system's throughput and totals), waste recomputed, latency and phase times
// are rank 0's (ranks move in lockstep, one all-to-all at a time), peaks are the largest rank's;
// output_digest lists every rank's digest; `ranks` holds each rank's own metrics; and
// `expert_parallel` summarizes tokens received per rank per unit and the all-to-all traffic.
nlohmann::json mergeRankMetrics(const std::vector<nlohmann::json>& perRank);

// Concatenates the ranks' routing logs record by record (rank 0's tokens first, as in the
// global batch) into `merged`, then removes them. Throws std::runtime_error when the logs do
// not describe the same sequence of forward passes.
void mergeRoutingLogs(const std::vector<std::filesystem::path>& rankLogs,
                      const std::filesystem::path& merged);

// Max Load and Avg Max Load (analysis::loadMetrics) of the placement each MoE layer used, on
// the routing in `routingLog`, per layer and averaged over layers, with each layer's experts
// per rank.
nlohmann::json placementMetricsJson(const std::vector<analysis::Placement>& placements,
                                    const std::filesystem::path& routingLog);

}  // namespace moeprof::workloads
