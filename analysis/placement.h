#pragma once
// Expert placement (paper, optimization 3): which device holds which expert, the algorithms that
// choose it, and the load metrics that judge it. Plain, torch-free code: live runs (workloads)
// and trace replay (`moeprof simulate --placement`) call the same functions, so a policy exists
// once. Bad arguments throw InputError naming the value and what is allowed.
#include <cstdint>
#include <vector>

namespace moeprof::analysis {

// Tokens routed to each expert in each batch: rows are batches, columns experts. A trace of one
// MoE layer; the row count may be zero. Doubles so that replicated experts can split tokens.
using LoadTrace = std::vector<std::vector<double>>;

// Which device(s) hold each expert. An expert with several replicas has its tokens split evenly
// among them (EPLB style); no device holds two copies of one expert.
class Placement {
 public:
  // devicesOfExpert[e] lists the devices holding expert e (at least one, each < numDevices,
  // no duplicates). Throws InputError otherwise.
  Placement(int numDevices, std::vector<std::vector<int>> devicesOfExpert);

  int numExperts() const { return static_cast<int>(devicesOfExpert_.size()); }
  int numDevices() const { return numDevices_; }
  const std::vector<int>& devicesOf(int expert) const { return devicesOfExpert_.at(expert); }
  // Per device, the experts it holds in increasing id order.
  std::vector<std::vector<int>> expertsOnDevices() const;
  // Per device, the tokens it processes when expert e receives expertTokens[e]; a replicated
  // expert's tokens are split evenly among its replicas. Throws InputError on a wrong length.
  std::vector<double> deviceTokens(const std::vector<double>& expertTokens) const;

 private:
  int numDevices_;
  std::vector<std::vector<int>> devicesOfExpert_;
};

// Baseline: expert e on device e % numDevices, numExperts / numDevices experts per device.
// Throws InputError when numDevices < 1 or does not divide numExperts.
Placement roundRobinPlacement(int numExperts, int numDevices);

// How placements compare loads. historicalLoad[e] is any nonnegative load measure; choosePlacement
// passes totalLoad() of the history, whole token counts, whose sums are exact, so two devices
// that are equal in whole tokens are equal. Loads within kLoadTolerance x the total historical
// load of each other count as equal too, so that a mean (tokens / passes, e.g. 37/3 summed as
// 20/3 + 17/3) or a replica's share (tokens / replicas) cannot let rounding in the last bit
// decide a tie: the documented tie-break (lower expert id, lowest device id) decides instead.
inline constexpr double kLoadTolerance = 1e-9;

// The paper's greedy placement: experts sorted by historical load, descending (ties: lower expert
// id first), each given to the least-loaded device that still has room (ties, within the load
// tolerance: lowest device id); every device ends with exactly numExperts / numDevices experts.
Placement greedyPlacement(const std::vector<double>& historicalLoad, int numDevices);

// The paper's anti-correlation variant (MT decoder): "load score adds 0.5 x the Pearson
// correlation with experts already on that device". Experts go heaviest first (ties: lower id);
// for each, among devices with room, the score of device d is
//   share(d) + kAntiCorrelationWeight * sum over experts j already on d of correlation[e][j],
// where share(d) is d's summed historical load over the total historical load (so load and
// correlation are both unitless and of similar size). Lowest score wins (scores within 1e-12 are
// equal); ties: lower device load (within the load tolerance), then lower device id. correlation is
// numExperts x numExperts, e.g. loadCorrelation() or activationCorrelation().
inline constexpr double kAntiCorrelationWeight = 0.5;
Placement antiCorrelationPlacement(const std::vector<double>& historicalLoad,
                                   const std::vector<std::vector<double>>& correlation,
                                   int numDevices);

// EPLB-style replication (DeepSeek EPLB): extraReplicas times, the expert with the highest load
// per replica (ties, within the load tolerance: lower id) gets one more replica, up to one per
// device; then all numExperts + extraReplicas replicas, each carrying load / replicas, are placed
// heaviest first (ties: lower expert id) on the least-loaded device (ties, within the load
// tolerance: lowest id) that has room and does not already hold that expert. Each device has room
// for ceil((numExperts + extraReplicas) / numDevices) replicas. Throws InputError when numDevices <
// 1, extraReplicas < 0 or more than numExperts * (numDevices - 1), or when no device can take a
// replica.
Placement replicatedPlacement(const std::vector<double>& historicalLoad, int numDevices,
                              int extraReplicas);

// How evenly a placement spreads a trace. "Max Load" has two readings, both kept, named apart:
// - pooled: tokens summed over all passes first, then the busiest device's share of them. What a
//   throughput-bound system feels over a whole run; imbalances of single passes that cancel out
//   over the run do not show.
// - per pass: each pass's busiest device's share of that pass's tokens, then their maximum and
//   their mean over passes. What a serving system feels batch by batch, since every all-to-all
//   waits for its busiest device. The paper's Max Load and Avg Max Load are the maximum and the
//   mean of this one per-batch figure (docs/placement-and-caching.md says why), so its ">0.6 ->
//   <0.4" compares with perPassMaxLoad and perPassAvgMaxLoad.
// 1/numDevices is perfect balance in every reading; pooled <= the token-weighted mean of the
// per-pass shares <= perPassMaxLoad.
struct LoadMetrics {
  // Tokens each device processes in each batch (batches x devices).
  std::vector<std::vector<double>> deviceTokens;
  // Pooled Max Load: the largest device's summed tokens over the whole trace divided by all
  // tokens of the trace.
  double pooledMaxLoad = 0;
  // Per-pass Max Load (the paper's Max Load): the largest over passes of the busiest device's
  // share of that pass (max device tokens / pass tokens).
  double perPassMaxLoad = 0;
  // Per-pass Avg Max Load (the paper's Avg Max Load): the mean over passes of that share.
  // Passes without tokens have no busiest share and are left out of both per-pass readings.
  double perPassAvgMaxLoad = 0;
  // The largest device's summed tokens over the whole trace (pooledMaxLoad before dividing).
  double pooledMaxLoadTokens = 0;
  // The largest device tokens in any single pass.
  double peakBatchDeviceTokens = 0;
};
// Throws InputError when a batch row's length differs from the placement's expert count.
LoadMetrics loadMetrics(const LoadTrace& trace, const Placement& placement);

// Mean tokens per batch for each expert. Throws InputError when the trace is empty or its rows
// differ in length.
std::vector<double> meanLoad(const LoadTrace& trace);
// Tokens per expert summed over the batches: the historical load choosePlacement gives the
// placements (whole numbers for routing counts, so device sums compare exactly; the ranking is
// that of meanLoad()). Same errors as meanLoad().
std::vector<double> totalLoad(const LoadTrace& trace);

// Pearson correlation of two experts' per-batch token counts, numExperts x numExperts. An expert
// whose load never changes correlates 0 with every other expert (and 1 with itself).
std::vector<std::vector<double>> loadCorrelation(const LoadTrace& trace);

// Pearson correlation of two experts' activity (active = at least one token in the batch),
// computed from co-activation counts: coActivation[i][j] = batches in which both i and j were
// active, coActivation[i][i] = batches in which i was active, out of numBatches. The phi
// coefficient; an expert always or never active correlates 0 with others.
std::vector<std::vector<double>> activationCorrelation(
    const std::vector<std::vector<int64_t>>& coActivation, int64_t numBatches);

// The paper's evaluation split: history = the first half of the batches (rounded down),
// evaluation = the rest. Throws InputError when the trace has fewer than 2 batches.
struct TraceSplit {
  LoadTrace history;
  LoadTrace evaluation;
};
TraceSplit splitTrace(const LoadTrace& trace);

}  // namespace moeprof::analysis
