#pragma once
// Expert loads from a recorded routing log: per MoE layer, the tokens each expert received in
// each forward pass and how often experts were active together. The input of placement
// replay (`moeprof simulate --placement`): meanLoad() and the correlations feed the placement
// algorithms, loadMetrics() judges them.
#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

#include "analysis/placement.h"
#include "collector/routing_log.h"

namespace moeprof::analysis {

// The routing of one MoE layer, one row per forward pass through it.
struct LayerLoads {
  collector::MoeLayerInfo layer;
  // (batch, step) of each row, increasing; a decoder step is a forward pass of its own, because
  // each step has its own all-to-all and so its own device loads.
  std::vector<std::pair<uint32_t, uint32_t>> rows;
  // tokens[row][expert]: token-expert assignments the router made, dropped ones included
  // (they are demand the placement has to serve; dropping is an artifact of the capacity).
  LoadTrace tokens;
  // coActivation[i][j]: rows in which experts i and j both received a token; the diagonal
  // counts the rows in which an expert was active. See activationCorrelation().
  std::vector<std::vector<int64_t>> coActivation;
};

// What a whole log holds, per MoE layer (index = MoE layer id of the log).
struct RoutingLoads {
  uint32_t numExperts = 0;
  uint32_t topK = 0;
  std::vector<LayerLoads> layers;
};

// Throws InputError when a record names a layer or expert the header does not have, or when the
// records are out of order or repeated (analysis/routing_order.h).
RoutingLoads routingLoads(const collector::RoutingLog& log);
// Reads the log first (collector::readRoutingLog; its InputErrors name file and offset; an
// order error names the file).
RoutingLoads readRoutingLoads(const std::filesystem::path& path);

}  // namespace moeprof::analysis
