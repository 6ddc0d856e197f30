#include "analysis/capacity_usage.h"

#include <algorithm>

#include "collector/errors.h"
// Header-only and torch-free: the one capacity rule the static-gating kernels apply.
#include "kernels/capacity.h"

namespace moeprof::analysis {

void CapacityCounts::add(const CapacityCounts& other) {
  kept += other.kept;
  dropped += other.dropped;
  padding += other.padding;
}

namespace {

kernels::CapacityMode parseMode(const std::string& mode) {
  if (mode == "eval") return kernels::CapacityMode::Eval;
  if (mode == "train") return kernels::CapacityMode::Train;
  throw InputError("capacity mode '" + mode + "' is unknown (allowed: eval, train)");
}

// Kept and dropped assignments per expert of one record.
void countRecord(const collector::RoutingRecord& record, uint32_t numExperts,
                 std::vector<CapacityCounts>& perExpert) {
  for (uint16_t choice : record.experts) {
    const uint16_t expert = choice & static_cast<uint16_t>(~collector::kDroppedFlag);
    if (expert >= numExperts) {
      throw InputError("routing record of batch " + std::to_string(record.batch) +
                       " names expert " + std::to_string(expert) + "; experts are 0.." +
                       std::to_string(numExperts - 1));
    }
    if (choice & collector::kDroppedFlag) {
      ++perExpert[expert].dropped;
    } else {
      ++perExpert[expert].kept;
    }
  }
}

}  // namespace

CapacityUsage capacityUsage(const collector::RoutingLog& log, const CapacityRule& rule) {
  const auto mode = parseMode(rule.mode);
  if (!(rule.capacityFactor > 0)) {
    throw InputError("capacity factor " + std::to_string(rule.capacityFactor) + " must be > 0");
  }
  const uint32_t experts = log.header.numExperts;
  CapacityUsage usage;
  usage.numExperts = experts;
  usage.perExpert.resize(experts);
  std::map<uint32_t, CapacityCounts> byBatch;
  std::vector<CapacityCounts> pass(experts);
  for (const auto& record : log.records) {
    if (record.moeLayer >= log.header.layers.size()) {
      throw InputError("routing record of batch " + std::to_string(record.batch) +
                       " names MoE layer " + std::to_string(record.moeLayer) + "; the log has " +
                       std::to_string(log.header.layers.size()) + " layers");
    }
    std::fill(pass.begin(), pass.end(), CapacityCounts{});
    countRecord(record, experts, pass);
    const auto capacity = static_cast<uint64_t>(kernels::expertCapacity(
        mode, rule.capacityFactor, record.numTokens, experts, log.header.topK));
    CapacityCounts& batch = byBatch[record.batch];
    CapacityCounts& stack = usage.perStack[log.header.layers[record.moeLayer].stack];
    for (uint32_t e = 0; e < experts; ++e) {
      if (pass[e].kept > capacity) {
        throw InputError("routing record of batch " + std::to_string(record.batch) + " keeps " +
                         std::to_string(pass[e].kept) + " tokens on expert " + std::to_string(e) +
                         ", over its capacity of " + std::to_string(capacity) +
                         ": not a static-gating log of this capacity");
      }
      pass[e].padding = capacity - pass[e].kept;
      usage.perExpert[e].add(pass[e]);
      batch.add(pass[e]);
      stack.add(pass[e]);
      usage.total.add(pass[e]);
    }
  }
  for (const auto& [index, counts] : byBatch) {
    usage.batches.push_back(index);
    usage.perBatch.push_back(counts);
  }
  return usage;
}

}  // namespace moeprof::analysis
