#pragma once
// Whether a routing log belongs to the run it is read with: its header (model, experts, top-k,
// MoE layers) against the run.json beside it, so that a log copied or moved next to another
// run's manifest is refused rather than replayed as that run's routing.
#include <filesystem>

#include "collector/routing_log.h"

namespace moeprof::collector {

// Throws InputError naming both files and the field that differs when the header and
// runDir/run.json describe different models (preset name, experts, top-k, MoE layer count).
// Does nothing when runDir holds no run.json (a log given on its own).
void checkRoutingLogMatchesRun(const RoutingLogHeader& header, const std::filesystem::path& log,
                               const std::filesystem::path& runDir);

}  // namespace moeprof::collector
