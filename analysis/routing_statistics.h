#pragma once
// Routing-log statistics (Huang et al., characterization): how skewed the experts' loads
// are, how many experts sit idle in a forward pass, how often an expert active in one pass is
// needed again in the next, and how similar two runs' expert loads are. Plain structs computed
// from a collector::RoutingLog; `moeprof characterize` prints them.
//
// Counting: an assignment is one token-expert choice of the router, dropped ones included (the
// router chose that expert; dropping is an artifact of the capacity). A forward pass is one
// record key (batch, step) of one MoE layer: one batch for LM and encoder layers, one decoding
// step for decoder layers, as the paper counts "experts inactive" in the MT decoder.
#include <cstdint>
#include <optional>
#include <vector>

#include "collector/routing_log.h"

namespace moeprof::analysis {

// The share of experts counted as "hottest" by top10Share: ceil(kHotExpertFraction x E).
inline constexpr double kHotExpertFraction = 0.1;

// Reuse distances of one layer or stack: for every pass in which an expert is active after
// having been active before, the number of passes since its previous active pass (1: active in
// the pass right before). Cold accesses (an expert's first active pass) have no distance.
struct ReuseSummary {
  uint64_t accesses = 0;      // (pass, active expert) pairs
  uint64_t coldAccesses = 0;  // first activation of an expert in the layer
  // histogram[d]: reuses at distance d (index 0 unused).
  std::vector<uint64_t> histogram;
  uint64_t reuses() const { return accesses - coldAccesses; }
  double coldFraction() const;
  double meanDistance() const;  // NaN without reuses
  // Smallest d with at least q of the reuses at distance <= d; NaN without reuses.
  double quantileDistance(double q) const;
  void add(const ReuseSummary& other);
};

// One MoE layer's statistics over the whole log.
struct LayerStatistics {
  collector::MoeLayerInfo layer;
  uint64_t passes = 0;       // forward passes (rows)
  uint64_t batches = 0;      // distinct batch indices
  uint64_t assignments = 0;  // token-expert choices over all passes
  // Per expert, its share of the layer's assignments (sums to 1; all 0 without assignments).
  std::vector<double> loadShare;
  // Skew of the layer's total per-expert assignment counts.
  double gini = 0;              // 0: uniform, (E-1)/E: one expert takes everything
  double top10Share = 0;        // share taken by the hottest ceil(10% of E) experts
  double hottestToUniform = 0;  // hottest expert's count / (assignments / E)
  double meanPassGini = 0;      // Gini of each pass's counts, mean over passes with tokens
  // Share of a pass's assignments that its hottest expert takes ("one expert can take almost
  // half of a batch"): mean and maximum over passes with tokens.
  double meanHottestPassShare = 0;
  double maxHottestPassShare = 0;
  // Fraction of the layer's experts without any token: mean over passes, and mean over batches
  // where a batch's active set is the union over its decoding steps (equal for LM and encoder).
  double inactivePerPass = 0;
  double inactivePerBatch = 0;
  // Experts that received no token in the whole log, as a fraction of E.
  double neverActive = 0;
  // Temporal locality: over consecutive passes t, t+1 (execution order: batch, then step), the
  // experts active at t that are active again at t+1, divided by the experts active at t.
  double reuseNextPass = 0;
  ReuseSummary reuse;
};

// The layers of one stack summarized: every double is the mean over its layers.
struct StackStatistics {
  collector::LayerStack stack = collector::LayerStack::Lm;
  int layers = 0;
  uint64_t passesPerLayer = 0;  // of its first layer
  double gini = 0;
  double top10Share = 0;
  double hottestToUniform = 0;
  double meanPassGini = 0;
  double meanHottestPassShare = 0;
  double maxHottestPassShare = 0;  // the largest over layers, not the mean
  double inactivePerPass = 0;
  double inactivePerBatch = 0;
  double neverActive = 0;
  double reuseNextPass = 0;
  ReuseSummary reuse;  // pooled over the stack's layers
};

// Everything routingStatistics() finds in one log: per layer, and per stack across layers.
struct RoutingStatistics {
  collector::RoutingLogHeader header;
  std::vector<LayerStatistics> layers;  // index = MoE layer id of the log
  std::vector<StackStatistics> stacks;  // stacks present, in order lm, encoder, decoder
  const StackStatistics* stack(collector::LayerStack which) const;  // nullptr when absent
};

// Throws InputError when a record names a layer or expert the header does not have.
RoutingStatistics routingStatistics(const collector::RoutingLog& log);

// Gini coefficient of nonnegative values: 0 when all are equal (or all zero), (n-1)/n when one
// value holds everything.
double giniCoefficient(std::vector<double> values);
// Sum of the ceil(fraction x n) largest values over the sum of all (0 when the sum is 0).
double topShare(std::vector<double> values, double fraction);

// How alike two expert load distributions are, averaged over layers.
struct LoadSimilarity {
  double cosine = 0;         // 1: same shape, 0: disjoint experts
  double jensenShannon = 0;  // Jensen-Shannon divergence, base 2: 0 identical, 1 disjoint
  int layers = 0;            // layers compared (both sides have assignments)
};
// Between the layers of `stack` in two runs of one model (std::nullopt: all layers). Layers
// without assignments on either side are left out; NaN fields when none is left. Throws
// InputError when the two logs are of different models (name, experts, top-k or layers).
LoadSimilarity loadSimilarity(const RoutingStatistics& a, const RoutingStatistics& b,
                              std::optional<collector::LayerStack> stack);
double cosineSimilarity(const std::vector<double>& a, const std::vector<double>& b);
double jensenShannonDivergence(const std::vector<double>& p, const std::vector<double>& q);

}  // namespace moeprof::analysis
