#pragma once
// Which rank holds which experts of each MoE layer in an expert-parallel run: one of the
// placement policies of analysis/placement (never a second implementation), fed for greedy and
// anti-correlation with the expert loads of a recorded routing log (the placement history).
// Torch-free.
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/placement_simulation.h"
#include "workloads/model/model_config.h"

namespace moeprof::workloads {

// The placements a live run takes: analysis::parsePlacementSpec's (roundrobin, greedy,
// anticorr, eplb, eplb:N with N >= 1), with --placement named in the InputError.
analysis::PlacementSpec parseLivePlacement(const std::string& text);

// A run directory's routing log (DIR/routing.bin), or the path itself when it is a file.
std::filesystem::path placementHistoryLog(const std::filesystem::path& history);

// One placement per MoE layer (routing-log layer order), each layer placed on its own history:
// round-robin needs none; greedy places by each expert's mean tokens per forward pass;
// anticorr adds the Pearson correlation of the experts' per-pass token counts
// (analysis::loadCorrelation); eplb replicates the heaviest experts (one extra replica per rank,
// or N) and the replicas split their tokens. Throws InputError when ranks does not divide the
// expert count, when greedy or anticorr has no history, when history is given to roundrobin, and
// when the history cannot be read or comes from another model (expert count or MoE layers differ).
std::vector<analysis::Placement> planPlacements(const analysis::PlacementSpec& spec,
                                                const ModelConfig& model, int ranks,
                                                const std::filesystem::path& history);

}  // namespace moeprof::workloads
