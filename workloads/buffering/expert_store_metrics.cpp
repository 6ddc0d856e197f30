// ExpertStore's metrics: what run.json's metrics.buffering holds.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "workloads/buffering/expert_store.h"
#include "workloads/buffering/expert_store_state.h"

namespace moeprof::workloads {

using store_detail::ReadStats;
using store_detail::StoreCounters;

namespace {
// A probe's description in run.json; `when` says when its trials ran.
nlohmann::json probeJson(const TierBandwidth& probe, const char* when) {
  return {{"reads", probe.random ? "random expert records" : "sequential chunks"},
          {"read_bytes", probe.readBytes},
          {"depth", probe.depth},
          {"trials", probe.trials},
          {"when", when},
          {"min_gbps", probe.minBytesPerSecond * 1e-9},
          {"max_gbps", probe.maxBytesPerSecond * 1e-9}};
}

std::vector<double> gbps(const std::vector<double>& bytesPerSecond) {
  std::vector<double> out;
  for (double rate : bytesPerSecond) out.push_back(rate * 1e-9);
  return out;
}

// {"depth": median GB/s} of the probes at each depth.
nlohmann::json peaksByDepthJson(const std::vector<TierBandwidth>& byDepth) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& probe : byDepth) {
    out[std::to_string(probe.depth)] = probe.medianBytesPerSecond * 1e-9;
  }
  return out;
}

// Share of the transfer time (the union) spent with 1, 2, ... reads in flight.
nlohmann::json readsInFlightShares(const ReadStats& stats) {
  nlohmann::json shares = nlohmann::json::array();
  const double total = static_cast<double>(stats.unionNs());
  for (size_t k = 1; k < stats.nsByReadsInFlight.size(); ++k) {
    shares.push_back(total > 0 ? static_cast<double>(stats.nsByReadsInFlight[k]) / total : 0.0);
  }
  return shares;
}
}  // namespace

namespace store_detail {

double PeakSamples::pairedEfficiency() const {
  double moved = 0, possible = 0;
  for (size_t b = 0; b < batches.size() && b + 1 < bytesPerSecond.size(); ++b) {
    moved += static_cast<double>(batches[b].first);
    possible += static_cast<double>(batches[b].second) * 1e-9 *
                (bytesPerSecond[b] + bytesPerSecond[b + 1]) / 2;
  }
  return finished && possible > 0 ? moved / possible : 0.0;
}

double bytesAtOfferedDepth(const ReadStats& stats, const std::vector<TierBandwidth>& byDepth) {
  auto at = [&](double depth) {
    if (byDepth.empty()) return 0.0;
    for (size_t i = 0; i + 1 < byDepth.size(); ++i) {
      const double low = byDepth[i].depth, high = byDepth[i + 1].depth;
      if (depth <= high) {
        const double t = std::clamp((depth - low) / (high - low), 0.0, 1.0);
        return byDepth[i].medianBytesPerSecond +
               t * (byDepth[i + 1].medianBytesPerSecond - byDepth[i].medianBytesPerSecond);
      }
    }
    return byDepth.back().medianBytesPerSecond;
  };
  double bytes = 0;
  for (size_t k = 1; k < stats.nsByReadsInFlight.size(); ++k) {
    bytes += static_cast<double>(stats.nsByReadsInFlight[k]) * 1e-9 * at(static_cast<double>(k));
  }
  return bytes;
}

double PeakSamples::spread() const {
  if (bytesPerSecond.empty()) return 0.0;
  auto [low, high] = std::minmax_element(bytesPerSecond.begin(), bytesPerSecond.end());
  return *low > 0 ? *high / *low : 0.0;
}

}  // namespace store_detail

// Where experts wait: the expert file, or its pinned copy in host memory (host memory, not device
// memory: resident_expert_bytes counts the device slots only).
nlohmann::json ExpertStore::State::slowTierJson() const {
  if (tier->kind() == TierKind::Disk) {
    return {{"tier", tierKindName(TierKind::Disk)},
            {"io", expertIoModeName(file.ioMode())},
            {"file", file.path().string()},
            {"reused", file.reused()}};
  }
  return {{"tier", tierKindName(tier->kind())}, {"host_bytes", tier->hostBytes()},
          {"copy_streams", config.ioDepth},     {"compute_stream", "legacy default stream"},
          {"file", file.path().string()},       {"reused", file.reused()}};
}

nlohmann::json ExpertStore::metricsJson() const {
  State& s = *state_;
  if (!s.peakSamples.bytesPerSecond.empty() && !s.peakSamples.finished) {
    s.samplePeak();  // the sample after the last measured batch
    s.peakSamples.finished = true;
  }
  s.waitIdle();
  std::lock_guard lock(s.mutex);
  const StoreCounters& c = s.counters;
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  const uint64_t accesses = c.hits + c.misses;
  store_detail::foldIntervals(s.readIntervals, s.readStats);
  const ReadStats& r = s.readStats;
  const int64_t transferNs = r.unionNs();
  const double transferSeconds = static_cast<double>(transferNs) * 1e-9;
  const double achieved = ratio(static_cast<double>(c.bytesMoved), transferSeconds);
  return {
      {"policy", s.config.policy},
      {"scope", analysis::cacheScopeName(s.config.scope)},
      {"slots_per_layer", s.config.slotsPerLayer},
      {"prefetch", prefetchModeName(s.config.prefetch)},
      {"pregate_predictor", std::any_of(s.model.pregates.begin(), s.model.pregates.end(),
                                        [](const at::Tensor& gate) { return gate.defined(); })
                                ? "trained pre-gates"
                                : "next layer's router"},
      {"slow_tier", s.slowTierJson()},
      {"accesses", accesses},
      {"hits", c.hits},
      {"misses", c.misses},
      {"miss_rate", ratio(static_cast<double>(c.misses), static_cast<double>(accesses))},
      {"evictions", c.evictions},
      {"demand_loads", c.demandLoads},
      {"read_ahead_loads", c.readAheadLoads},
      {"prefetch_loads", c.prefetchLoads},
      {"cancelled_loads", c.cancelledLoads},
      {"useful_prefetches", c.usefulPrefetches},
      {"wasted_prefetches", c.wastedPrefetches},
      {"bytes_moved", c.bytesMoved},
      {"io_depth", s.config.ioDepth},
      {"io_threads", s.ioThreadsPreempt ? "SCHED_FIFO" : "normal (SCHED_FIFO not permitted)"},
      {"reads", r.reads},
      {"mean_read_bytes", ratio(static_cast<double>(r.readBytes), static_cast<double>(r.reads))},
      {"mean_reads_in_flight",
       ratio(static_cast<double>(r.readNs), static_cast<double>(transferNs))},
      {"transfer_share_by_reads_in_flight", readsInFlightShares(r)},
      {"mean_queue_ms",
       ratio(static_cast<double>(r.queuedNs) * 1e-6, static_cast<double>(r.queuedLoads))},
      {"transfer_ms", static_cast<double>(transferNs) * 1e-6},
      {"stall_ms", static_cast<double>(c.stallNs) * 1e-6},
      {"achieved_bandwidth_gbps", achieved * 1e-9},
      {"tier_peak_bandwidth_gbps", s.peak.medianBytesPerSecond * 1e-9},
      {"tier_peak_probe",
       probeJson(s.peak, "before the first measured batch, between each two and after the last")},
      {"tier_peak_samples_gbps", gbps(s.peakSamples.bytesPerSecond)},
      {"tier_peak_spread", s.peakSamples.spread()},
      {"bandwidth_efficiency", s.peakSamples.pairedEfficiency()},
      {"bandwidth_efficiency_vs_median_peak", ratio(achieved, s.peak.medianBytesPerSecond)},
      {"tier_peak_by_depth_gbps", peaksByDepthJson(s.peakByDepth)},
      {"bandwidth_efficiency_at_offered_depth",
       ratio(static_cast<double>(c.bytesMoved),
             store_detail::bytesAtOfferedDepth(r, s.peakByDepth))},
      {"tier_large_read_bandwidth_gbps", s.largeReadPeak.medianBytesPerSecond * 1e-9},
      {"tier_large_read_probe", probeJson(s.largeReadPeak, "before the run")},
      {"bandwidth_efficiency_vs_large_reads",
       ratio(achieved, s.largeReadPeak.medianBytesPerSecond)},
      {"prefetch_precision",
       ratio(static_cast<double>(c.truePositives), static_cast<double>(c.predicted))},
      {"prefetch_recall",
       ratio(static_cast<double>(c.truePositives), static_cast<double>(c.actual))},
      {"prefetch_lead_ms_mean",
       ratio(static_cast<double>(c.leadNs) * 1e-6, static_cast<double>(c.usefulPrefetches))},
      {"resident_expert_bytes", residentExpertBytes()},
      {"read_ahead_buffers", s.config.readAheadBuffers},
      {"read_ahead_bytes", readAheadBytes()},
  };
}

}  // namespace moeprof::workloads
