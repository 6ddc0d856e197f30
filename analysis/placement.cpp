#include "analysis/placement.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include "collector/errors.h"

namespace moeprof::analysis {
namespace {

// Scores closer than this are ties, so that rounding in sums does not decide a placement.
constexpr double kScoreEpsilon = 1e-12;

void checkDevices(int numDevices) {
  if (numDevices < 1) {
    throw InputError("number of devices must be at least 1, got " + std::to_string(numDevices));
  }
}

void checkDivides(int numExperts, int numDevices) {
  checkDevices(numDevices);
  if (numExperts < 1 || numExperts % numDevices != 0) {
    throw InputError("number of experts (" + std::to_string(numExperts) +
                     ") must be a positive multiple of the number of devices (" +
                     std::to_string(numDevices) + ")");
  }
}

void checkLoads(const std::vector<double>& load) {
  for (size_t e = 0; e < load.size(); ++e) {
    if (!(load[e] >= 0) || !std::isfinite(load[e])) {
      throw InputError("historical load of expert " + std::to_string(e) +
                       " must be a finite number >= 0, got " + std::to_string(load[e]));
    }
  }
}

// "a is less loaded than b", with loads within the tolerance equal (placement.h, kLoadTolerance).
class LoadOrder {
 public:
  explicit LoadOrder(const std::vector<double>& load)
      : tolerance_(kLoadTolerance * std::accumulate(load.begin(), load.end(), 0.0)) {}
  bool less(double a, double b) const { return a < b - tolerance_; }

 private:
  double tolerance_;
};

// Expert ids ordered by load, descending; stable, so equal loads keep lower ids first. Exact
// comparison (a tolerance is no strict weak order): whole token totals, and quotients of them
// by one divisor (means, replica shares), are equal exactly when the exact values are.
std::vector<int> heaviestFirst(const std::vector<double>& load) {
  std::vector<int> order(load.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return load[a] > load[b]; });
  return order;
}

}  // namespace

Placement::Placement(int numDevices, std::vector<std::vector<int>> devicesOfExpert)
    : numDevices_(numDevices), devicesOfExpert_(std::move(devicesOfExpert)) {
  checkDevices(numDevices);
  for (size_t e = 0; e < devicesOfExpert_.size(); ++e) {
    const std::vector<int>& devices = devicesOfExpert_[e];
    if (devices.empty()) {
      throw InputError("expert " + std::to_string(e) + " is on no device; every expert needs one");
    }
    for (size_t i = 0; i < devices.size(); ++i) {
      if (devices[i] < 0 || devices[i] >= numDevices) {
        throw InputError("expert " + std::to_string(e) + " is on device " +
                         std::to_string(devices[i]) + "; devices are 0.." +
                         std::to_string(numDevices - 1));
      }
      if (std::find(devices.begin(), devices.begin() + i, devices[i]) != devices.begin() + i) {
        throw InputError("expert " + std::to_string(e) + " has two replicas on device " +
                         std::to_string(devices[i]) + "; a device holds at most one copy");
      }
    }
  }
}

std::vector<std::vector<int>> Placement::expertsOnDevices() const {
  std::vector<std::vector<int>> experts(numDevices_);
  for (int e = 0; e < numExperts(); ++e) {
    for (int device : devicesOfExpert_[e]) experts[device].push_back(e);
  }
  return experts;
}

std::vector<double> Placement::deviceTokens(const std::vector<double>& expertTokens) const {
  if (expertTokens.size() != devicesOfExpert_.size()) {
    throw InputError("token counts for " + std::to_string(expertTokens.size()) +
                     " experts, but the placement has " + std::to_string(numExperts()) +
                     " experts");
  }
  std::vector<double> tokens(numDevices_, 0.0);
  for (int e = 0; e < numExperts(); ++e) {
    const std::vector<int>& devices = devicesOfExpert_[e];
    const double share = expertTokens[e] / static_cast<double>(devices.size());
    for (int device : devices) tokens[device] += share;
  }
  return tokens;
}

Placement roundRobinPlacement(int numExperts, int numDevices) {
  checkDivides(numExperts, numDevices);
  std::vector<std::vector<int>> devices(numExperts);
  for (int e = 0; e < numExperts; ++e) devices[e] = {e % numDevices};
  return Placement(numDevices, std::move(devices));
}

Placement greedyPlacement(const std::vector<double>& historicalLoad, int numDevices) {
  const int numExperts = static_cast<int>(historicalLoad.size());
  checkDivides(numExperts, numDevices);
  checkLoads(historicalLoad);
  const int room = numExperts / numDevices;
  const LoadOrder order(historicalLoad);
  std::vector<double> deviceLoad(numDevices, 0.0);
  std::vector<int> deviceCount(numDevices, 0);
  std::vector<std::vector<int>> devices(numExperts);
  for (int e : heaviestFirst(historicalLoad)) {
    int best = -1;
    for (int d = 0; d < numDevices; ++d) {
      // Strictly less: on equal load the lower device id, found first, stays.
      if (deviceCount[d] < room && (best < 0 || order.less(deviceLoad[d], deviceLoad[best]))) {
        best = d;
      }
    }
    devices[e] = {best};
    deviceLoad[best] += historicalLoad[e];
    ++deviceCount[best];
  }
  return Placement(numDevices, std::move(devices));
}

Placement antiCorrelationPlacement(const std::vector<double>& historicalLoad,
                                   const std::vector<std::vector<double>>& correlation,
                                   int numDevices) {
  const int numExperts = static_cast<int>(historicalLoad.size());
  checkDivides(numExperts, numDevices);
  checkLoads(historicalLoad);
  if (correlation.size() != historicalLoad.size()) {
    throw InputError("correlation matrix has " + std::to_string(correlation.size()) +
                     " rows; it must have one per expert (" + std::to_string(numExperts) + ")");
  }
  for (size_t i = 0; i < correlation.size(); ++i) {
    if (correlation[i].size() != historicalLoad.size()) {
      throw InputError("correlation row " + std::to_string(i) + " has " +
                       std::to_string(correlation[i].size()) + " values; it must have " +
                       std::to_string(numExperts));
    }
  }
  const double total = std::accumulate(historicalLoad.begin(), historicalLoad.end(), 0.0);
  // Without any load, shares are all 0 and only correlation decides.
  const double scale = total > 0 ? 1.0 / total : 0.0;
  const int room = numExperts / numDevices;
  const LoadOrder order(historicalLoad);
  std::vector<double> deviceLoad(numDevices, 0.0);
  std::vector<std::vector<int>> onDevice(numDevices);
  std::vector<std::vector<int>> devices(numExperts);
  for (int e : heaviestFirst(historicalLoad)) {
    int best = -1;
    double bestScore = 0;
    for (int d = 0; d < numDevices; ++d) {
      if (static_cast<int>(onDevice[d].size()) >= room) continue;
      double correlated = 0;
      for (int j : onDevice[d]) correlated += correlation[e][j];
      const double score = deviceLoad[d] * scale + kAntiCorrelationWeight * correlated;
      const bool better =
          best < 0 || score < bestScore - kScoreEpsilon ||
          (score <= bestScore + kScoreEpsilon && order.less(deviceLoad[d], deviceLoad[best]));
      if (better) {
        best = d;
        bestScore = score;
      }
    }
    devices[e] = {best};
    deviceLoad[best] += historicalLoad[e];
    onDevice[best].push_back(e);
  }
  return Placement(numDevices, std::move(devices));
}

namespace {

// EPLB's first step: how many replicas each expert gets.
std::vector<int> replicaCounts(const std::vector<double>& load, int numDevices, int extra) {
  const LoadOrder order(load);
  std::vector<int> replicas(load.size(), 1);
  for (int r = 0; r < extra; ++r) {
    int best = -1;
    for (size_t e = 0; e < load.size(); ++e) {
      if (replicas[e] >= numDevices) continue;  // one copy per device at most
      if (best < 0 || order.less(load[best] / replicas[best], load[e] / replicas[e])) best = e;
    }
    ++replicas[best];  // extra <= numExperts * (numDevices - 1) guarantees a candidate
  }
  return replicas;
}

}  // namespace

Placement replicatedPlacement(const std::vector<double>& historicalLoad, int numDevices,
                              int extraReplicas) {
  checkDevices(numDevices);
  checkLoads(historicalLoad);
  const int64_t numExperts = static_cast<int64_t>(historicalLoad.size());
  if (numExperts < 1) throw InputError("replicated placement needs at least 1 expert, got 0");
  if (extraReplicas < 0 || extraReplicas > numExperts * (numDevices - 1)) {
    throw InputError("extra replicas must be 0.." + std::to_string(numExperts * (numDevices - 1)) +
                     " (each expert at most once per device), got " +
                     std::to_string(extraReplicas));
  }
  const std::vector<int> replicas = replicaCounts(historicalLoad, numDevices, extraReplicas);
  std::vector<double> perReplica(historicalLoad.size());
  for (size_t e = 0; e < perReplica.size(); ++e) perReplica[e] = historicalLoad[e] / replicas[e];

  const int64_t slots = numExperts + extraReplicas;
  const int64_t room = (slots + numDevices - 1) / numDevices;
  const LoadOrder order(historicalLoad);
  std::vector<double> deviceLoad(numDevices, 0.0);
  std::vector<int64_t> deviceCount(numDevices, 0);
  std::vector<std::vector<int>> devices(numExperts);
  for (int e : heaviestFirst(perReplica)) {
    for (int r = 0; r < replicas[e]; ++r) {
      int best = -1;
      for (int d = 0; d < numDevices; ++d) {
        const bool holds = std::find(devices[e].begin(), devices[e].end(), d) != devices[e].end();
        if (deviceCount[d] >= room || holds) continue;
        if (best < 0 || order.less(deviceLoad[d], deviceLoad[best])) best = d;
      }
      if (best < 0) {
        throw InputError("cannot place replica " + std::to_string(r + 1) + " of expert " +
                         std::to_string(e) + ": every device with room already holds it (" +
                         std::to_string(extraReplicas) + " extra replicas on " +
                         std::to_string(numDevices) + " devices)");
      }
      devices[e].push_back(best);
      deviceLoad[best] += perReplica[e];
      ++deviceCount[best];
    }
    std::sort(devices[e].begin(), devices[e].end());
  }
  return Placement(numDevices, std::move(devices));
}

namespace {

// Every row must have the same number of experts; returns that number.
size_t checkRows(const LoadTrace& trace, size_t numExperts) {
  for (size_t b = 0; b < trace.size(); ++b) {
    if (trace[b].size() != numExperts) {
      throw InputError("batch " + std::to_string(b) + " has token counts for " +
                       std::to_string(trace[b].size()) + " experts; expected " +
                       std::to_string(numExperts));
    }
  }
  return numExperts;
}

}  // namespace

LoadMetrics loadMetrics(const LoadTrace& trace, const Placement& placement) {
  checkRows(trace, placement.numExperts());
  LoadMetrics metrics;
  std::vector<double> summed(placement.numDevices(), 0.0);
  double allTokens = 0;
  double shareSum = 0;
  int64_t batchesWithTokens = 0;
  for (const std::vector<double>& batch : trace) {
    std::vector<double> tokens = placement.deviceTokens(batch);
    const double batchTokens = std::accumulate(tokens.begin(), tokens.end(), 0.0);
    const double worst = *std::max_element(tokens.begin(), tokens.end());
    metrics.peakBatchDeviceTokens = std::max(metrics.peakBatchDeviceTokens, worst);
    if (batchTokens > 0) {
      shareSum += worst / batchTokens;
      metrics.perPassMaxLoad = std::max(metrics.perPassMaxLoad, worst / batchTokens);
      ++batchesWithTokens;
    }
    for (size_t d = 0; d < tokens.size(); ++d) summed[d] += tokens[d];
    allTokens += batchTokens;
    metrics.deviceTokens.push_back(std::move(tokens));
  }
  metrics.pooledMaxLoadTokens = *std::max_element(summed.begin(), summed.end());
  metrics.pooledMaxLoad = allTokens > 0 ? metrics.pooledMaxLoadTokens / allTokens : 0;
  metrics.perPassAvgMaxLoad = batchesWithTokens > 0 ? shareSum / batchesWithTokens : 0;
  return metrics;
}

std::vector<double> totalLoad(const LoadTrace& trace) {
  if (trace.empty()) throw InputError("the load trace has no batches; need at least 1");
  const size_t numExperts = checkRows(trace, trace.front().size());
  std::vector<double> total(numExperts, 0.0);
  for (const std::vector<double>& batch : trace) {
    for (size_t e = 0; e < numExperts; ++e) total[e] += batch[e];
  }
  return total;
}

std::vector<double> meanLoad(const LoadTrace& trace) {
  std::vector<double> mean = totalLoad(trace);
  for (double& value : mean) value /= static_cast<double>(trace.size());
  return mean;
}

std::vector<std::vector<double>> loadCorrelation(const LoadTrace& trace) {
  const std::vector<double> mean = meanLoad(trace);
  const size_t numExperts = mean.size();
  // Sums of products of deviations; the 1/n factors cancel in the Pearson ratio.
  std::vector<std::vector<double>> covariance(numExperts, std::vector<double>(numExperts, 0.0));
  for (const std::vector<double>& batch : trace) {
    for (size_t i = 0; i < numExperts; ++i) {
      const double di = batch[i] - mean[i];
      for (size_t j = 0; j < numExperts; ++j) covariance[i][j] += di * (batch[j] - mean[j]);
    }
  }
  std::vector<std::vector<double>> correlation(numExperts, std::vector<double>(numExperts, 0.0));
  for (size_t i = 0; i < numExperts; ++i) {
    for (size_t j = 0; j < numExperts; ++j) {
      const double norm = std::sqrt(covariance[i][i] * covariance[j][j]);
      correlation[i][j] = i == j ? 1.0 : (norm > 0 ? covariance[i][j] / norm : 0.0);
    }
  }
  return correlation;
}

std::vector<std::vector<double>> activationCorrelation(
    const std::vector<std::vector<int64_t>>& coActivation, int64_t numBatches) {
  const size_t numExperts = coActivation.size();
  for (size_t i = 0; i < numExperts; ++i) {
    if (coActivation[i].size() != numExperts) {
      throw InputError("co-activation row " + std::to_string(i) + " has " +
                       std::to_string(coActivation[i].size()) + " values; it must have " +
                       std::to_string(numExperts));
    }
  }
  const auto n = static_cast<double>(numBatches);
  std::vector<std::vector<double>> correlation(numExperts, std::vector<double>(numExperts, 0.0));
  for (size_t i = 0; i < numExperts; ++i) {
    for (size_t j = 0; j < numExperts; ++j) {
      const auto ni = static_cast<double>(coActivation[i][i]);
      const auto nj = static_cast<double>(coActivation[j][j]);
      const auto nij = static_cast<double>(coActivation[i][j]);
      // Pearson correlation of two 0/1 series: (n*nij - ni*nj) / sqrt(ni(n-ni) nj(n-nj)).
      const double norm = std::sqrt(ni * (n - ni) * nj * (n - nj));
      correlation[i][j] = i == j ? 1.0 : (norm > 0 ? (n * nij - ni * nj) / norm : 0.0);
    }
  }
  return correlation;
}

TraceSplit splitTrace(const LoadTrace& trace) {
  if (trace.size() < 2) {
    throw InputError(
        "splitting a trace into history and evaluation needs at least 2 batches, got " +
        std::to_string(trace.size()));
  }
  const auto middle = trace.begin() + static_cast<std::ptrdiff_t>(trace.size() / 2);
  return {LoadTrace(trace.begin(), middle), LoadTrace(middle, trace.end())};
}

}  // namespace moeprof::analysis
