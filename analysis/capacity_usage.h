#pragma once
// Static gating's capacity buffers as the routing log shows them (paper: "sources of
// inefficiency"): for every expert and every batch, the tokens the experts computed, the empty
// buffer slots they computed anyway (padding) and the assignments dropped over capacity. Only
// routing.bin records drops (kDroppedFlag); run.json has the totals, this has where they were.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "collector/routing_log.h"

namespace moeprof::analysis {

// One expert's (or one batch's) share of the capacity buffers.
struct CapacityCounts {
  uint64_t kept = 0;                                 // assignments computed: tokens in the buffer
  uint64_t dropped = 0;                              // assignments over capacity, not computed
  uint64_t padding = 0;                              // buffer slots computed without a token
  uint64_t slots() const { return kept + padding; }  // rows the experts computed
  void add(const CapacityCounts& other);
};

// How capacity C follows from a pass's token count S: the capacity factor and the rule of
// run.json's config ("eval": C = ceil(CF x S); "train": C = ceil(CF x k x S / E)).
struct CapacityRule {
  double capacityFactor = 1.0;
  std::string mode = "eval";
};

struct CapacityUsage {
  uint32_t numExperts = 0;
  std::vector<CapacityCounts> perExpert{};  // summed over every layer and pass
  std::vector<uint32_t> batches{};          // measured batch indices, increasing
  std::vector<CapacityCounts> perBatch{};   // same order: summed over layers, experts and steps
  std::map<collector::LayerStack, CapacityCounts> perStack{};  // slots() = expert_rows_computed
  CapacityCounts total;
};

// Every record is one pass with capacity C(numTokens) per expert and layer; an expert's kept
// assignments never exceed C (a log where they do is not static gating: InputError). Throws
// InputError for an unknown mode, a capacity factor <= 0, or a record naming a bad layer/expert.
CapacityUsage capacityUsage(const collector::RoutingLog& log, const CapacityRule& rule);

}  // namespace moeprof::analysis
