#include "analysis/deployment_study.h"

namespace moeprof::analysis {

namespace {

std::optional<double> optionalNumber(const nlohmann::json& node, const char* key) {
  auto it = node.find(key);
  if (it == node.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::optional<BufferingFigures> readBuffering(const collector::RunManifest& m) {
  const auto config = m.config.find("buffering");
  const auto metrics = m.metrics.find("buffering");
  if (config == m.config.end() || !config->is_object() || metrics == m.metrics.end()) {
    return std::nullopt;
  }
  BufferingFigures b;
  b.policy = config->value("policy", "");
  b.prefetch = config->value("prefetch", "off");
  b.slotsPerLayer = config->value("slots_per_layer", int64_t{0});
  b.unbufferedWeightBytes = metrics->value("unbuffered_weight_bytes", int64_t{0});
  const double buffered = m.metrics.value("peak_weight_bytes", 0.0);
  b.staticMemoryReduction = metrics->value("static_memory_reduction",
                                           buffered > 0 ? b.unbufferedWeightBytes / buffered : 1.0);
  b.stallMs = metrics->value("stall_ms", metrics->value("stall_ms_max_rank", 0.0));
  b.bytesMoved = metrics->value("bytes_moved", int64_t{0});
  b.missRate = metrics->value("miss_rate", 0.0);
  if (b.prefetch != "off") {
    b.prefetchPrecision = optionalNumber(*metrics, "prefetch_precision");
    b.prefetchRecall = optionalNumber(*metrics, "prefetch_recall");
  }
  return b;
}

std::optional<double> readPerPassMaxLoad(const collector::RunManifest& m) {
  const auto ep = m.metrics.find("expert_parallel");
  if (ep == m.metrics.end() || !ep->contains("placement_metrics")) return std::nullopt;
  return optionalNumber(ep->at("placement_metrics"), "per_pass_max_load");
}

bool samePhase(const DeploymentPoint& a, const DeploymentPoint& b) {
  return a.phase.preset == b.phase.preset && a.phase.phase == b.phase.phase &&
         a.phase.batch == b.phase.batch;
}

bool singleRank(const DeploymentPoint& p) {
  return p.ranks == 1;
}

// Buffered, one rank, fetching as `prefetch` says.
bool bufferedWith(const DeploymentPoint& p, const std::string& prefetch) {
  return singleRank(p) && p.buffering && p.buffering->prefetch == prefetch;
}

// The first point of `points` at a's phase that `matches`, or null.
template <typename Matches>
const DeploymentPoint* findPartner(const std::vector<DeploymentPoint>& points,
                                   const DeploymentPoint& a, Matches matches) {
  for (const auto& b : points) {
    if (samePhase(a, b) && matches(b)) return &b;
  }
  return nullptr;
}

double ratioOf(double numerator, double denominator) {
  return denominator > 0 ? numerator / denominator : 0;
}

}  // namespace

double moeBlockMs(const PhasePoint& p) {
  double ms = 0;
  for (const char* part : {"gate", "dispatch", "experts", "combine"}) {
    if (auto it = p.phaseMs.find(part); it != p.phaseMs.end()) ms += it->second;
  }
  return ms;
}

std::vector<DeploymentPoint> deploymentPoints(const collector::RunManifest& manifest,
                                              const std::string& runDir) {
  std::vector<DeploymentPoint> points;
  const auto buffering = readBuffering(manifest);
  const auto maxLoad = readPerPassMaxLoad(manifest);
  for (auto& phase : phasePoints(manifest, runDir)) {
    DeploymentPoint p{std::move(phase), buffering, manifest.config.value("ranks", int64_t{1}),
                      manifest.config.value("placement", "roundrobin"), maxLoad};
    points.push_back(std::move(p));
  }
  return points;
}

std::vector<BufferingCost> bufferingCosts(const std::vector<DeploymentPoint>& points) {
  std::vector<BufferingCost> costs;
  for (const auto& buffered : points) {
    if (!bufferedWith(buffered, "off")) continue;
    const auto* unbuffered = findPartner(
        points, buffered, [](const DeploymentPoint& b) { return singleRank(b) && !b.buffering; });
    if (!unbuffered) continue;
    costs.push_back({*unbuffered, buffered,
                     ratioOf(buffered.phase.latencyMedianMs, unbuffered->phase.latencyMedianMs)});
  }
  return costs;
}

std::vector<PrefetchComparison> prefetchComparisons(const std::vector<DeploymentPoint>& points) {
  std::vector<PrefetchComparison> comparisons;
  for (const auto& onDemand : points) {
    if (!bufferedWith(onDemand, "off")) continue;
    const auto* pregated = findPartner(
        points, onDemand, [](const DeploymentPoint& b) { return bufferedWith(b, "pregate"); });
    if (!pregated) continue;
    const auto* all = findPartner(points, onDemand,
                                  [](const DeploymentPoint& b) { return bufferedWith(b, "all"); });
    const double pregatedBlockMs = moeBlockMs(pregated->phase);
    PrefetchComparison c{onDemand,
                         *pregated,
                         std::nullopt,
                         ratioOf(pregated->phase.tokensPerS, onDemand.phase.tokensPerS),
                         ratioOf(moeBlockMs(onDemand.phase), pregatedBlockMs),
                         std::nullopt};
    if (all) {
      c.prefetchAll = *all;
      c.blockGainOverAll = ratioOf(moeBlockMs(all->phase), pregatedBlockMs);
    }
    comparisons.push_back(std::move(c));
  }
  return comparisons;
}

std::vector<PlacementGain> placementGains(const std::vector<DeploymentPoint>& points) {
  std::vector<PlacementGain> gains;
  for (const auto& balanced : points) {
    if (singleRank(balanced) || balanced.buffering || balanced.placement == "roundrobin") continue;
    const auto* roundRobin = findPartner(points, balanced, [&](const DeploymentPoint& b) {
      return b.ranks == balanced.ranks && !b.buffering && b.placement == "roundrobin";
    });
    if (!roundRobin) continue;
    gains.push_back({*roundRobin, balanced,
                     ratioOf(balanced.phase.tokensPerS, roundRobin->phase.tokensPerS) - 1.0});
  }
  return gains;
}

}  // namespace moeprof::analysis
