#pragma once
// The one order every reader of a routing log relies on. Cache replay follows the records as they
// come, placement and statistics group them by (batch, step): both agree only when the records
// are in execution order and none is repeated, which is how moeprof writes them. A log that is
// not (edited, concatenated, or written by another tool) is rejected rather than read
// differently by different commands.
#include <string>

#include "collector/routing_log.h"

namespace moeprof::analysis {

// Throws InputError unless the records are strictly increasing in (batch, step, MoE layer): the
// order a run executes them in (within a batch, the decoder steps in order, the encoder's layers
// at step 0 before the decoder's, each step's layers in order). The message names the first
// record that breaks the order, by position (1-based) and (batch, step, MoE layer), and the
// record it repeats or follows; `source` (a file name), when given, prefixes it.
void checkRoutingOrder(const collector::RoutingLog& log, const std::string& source = "");

}  // namespace moeprof::analysis
