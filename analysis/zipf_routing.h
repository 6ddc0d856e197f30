#pragma once
// Synthetic Zipf routing, the labelled comparison for real routing (issue 5; arXiv:2605.20982: mock
// routing misstates skew). A log shaped exactly like a recorded one (same header, records with
// the same batch, layer, step and token count, in the same order) whose choices come from a
// Zipf law instead of a router, so every statistic and replay can run on both and be compared.
#include <cstdint>
#include <vector>

#include "collector/routing_log.h"

namespace moeprof::analysis {

// A small deterministic generator (splitmix64): the same seed gives the same log on every
// platform and standard library, which std:: distributions do not promise.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform();                // [0, 1), 53 random bits
  uint64_t below(uint64_t bound);  // [0, bound), bound >= 1

 private:
  uint64_t state_;
};

// Popularity weight of each expert: the expert at rank r (1-based) of a seeded random
// permutation has weight r^-s, normalized to sum to 1. Throws InputError unless s > 0 and
// finite and numExperts >= 1.
std::vector<double> zipfExpertWeights(uint32_t numExperts, double s, uint64_t seed);

// The synthetic log. Layer l's popularity is zipfExpertWeights(E, s, seed mixed with l); each
// token draws its first expert from it and each further one (up to top-k, all distinct) from
// the same law over the experts not yet taken (sampling without replacement, as a router's top-k
// picks distinct experts). Gate weights are 1/k each; nothing is dropped. Deterministic for
// (template shape, s, seed). Throws InputError for a bad s.
collector::RoutingLog zipfRoutingLike(const collector::RoutingLog& shape, double s, uint64_t seed);

}  // namespace moeprof::analysis
