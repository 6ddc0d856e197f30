#include "workloads/parallel/expert_parallel_run.h"

#include <algorithm>
#include <stdexcept>

#include "analysis/routing_loads.h"
#include "collector/routing_log.h"

namespace moeprof::workloads {

namespace {

constexpr const char* kPhaseKeys[] = {"forward", "generate", "encoder", "decoder"};
constexpr const char* kSummedCounters[] = {"expert_rows_computed", "expert_rows_needed",
                                           "dropped_tokens", "dropped_assignments"};

void mergePhase(nlohmann::json& merged, const std::vector<nlohmann::json>& perRank,
                const char* phase) {
  double tokensPerS = 0;
  int64_t peak = 0;
  for (const auto& rank : perRank) {
    const auto& p = rank.at(phase);
    tokensPerS += p.value("tokens_per_s", 0.0);
    peak = std::max(peak, p.value("peak_activation_bytes", int64_t{0}));
  }
  auto& out = merged[phase];
  out["tokens_per_s"] = tokensPerS;
  out["peak_activation_bytes"] = peak;
  for (const char* counter : kSummedCounters) {
    int64_t total = 0;
    for (const auto& rank : perRank) total += rank.at(phase).value(counter, int64_t{0});
    out[counter] = total;
  }
  int64_t needed = out["expert_rows_needed"];
  out["waste_factor"] =
      needed > 0 ? static_cast<double>(out["expert_rows_computed"].get<int64_t>()) / needed : 1.0;
  out.erase("expert_parallel");  // per rank: in ranks[] and the summary
}

nlohmann::json trafficSummary(const std::vector<nlohmann::json>& perRank, const char* phase) {
  nlohmann::json rows = nlohmann::json::array(), ms = nlohmann::json::array(),
                 sent = nlohmann::json::array(), received = nlohmann::json::array();
  for (const auto& rank : perRank) {
    const auto ep = rank.at(phase).value("expert_parallel", nlohmann::json::object());
    rows.push_back(ep.value("expert_rows_received_per_unit", nlohmann::json::array()));
    ms.push_back(ep.value("all_to_all_ms_per_unit", 0.0));
    sent.push_back(ep.value("all_to_all_bytes_sent", int64_t{0}));
    received.push_back(ep.value("all_to_all_bytes_received", int64_t{0}));
  }
  return {{"expert_rows_received_per_rank_per_unit", rows},
          {"all_to_all_ms_per_unit_per_rank", ms},
          {"all_to_all_bytes_sent_per_rank", sent},
          {"all_to_all_bytes_received_per_rank", received}};
}

// Expert Buffering on every rank: the ranks' stores together (each rank's own is in ranks[]).
nlohmann::json mergeBuffering(const std::vector<nlohmann::json>& perRank) {
  nlohmann::json merged = perRank.at(0).at("buffering");
  constexpr const char* kSummed[] = {"accesses",
                                     "hits",
                                     "misses",
                                     "evictions",
                                     "demand_loads",
                                     "prefetch_loads",
                                     "cancelled_loads",
                                     "useful_prefetches",
                                     "wasted_prefetches",
                                     "read_ahead_loads",
                                     "reads",
                                     "bytes_moved",
                                     "read_ahead_bytes",
                                     "resident_expert_bytes",
                                     "unbuffered_weight_bytes"};
  for (const char* key : kSummed) {
    int64_t total = 0;
    for (const auto& rank : perRank) total += rank.at("buffering").value(key, int64_t{0});
    merged[key] = total;
  }
  double stallMs = 0;
  for (const auto& rank : perRank)
    stallMs = std::max(stallMs, rank.at("buffering").value("stall_ms", 0.0));
  merged["stall_ms_max_rank"] = stallMs;
  const double accesses = merged["accesses"].get<double>();
  merged["miss_rate"] = accesses > 0 ? merged["misses"].get<double>() / accesses : 0.0;
  for (const char* perRankOnly : {"stall_ms",
                                  "transfer_ms",
                                  "achieved_bandwidth_gbps",
                                  "bandwidth_efficiency",
                                  "prefetch_precision",
                                  "prefetch_recall",
                                  "prefetch_lead_ms_mean",
                                  "static_memory_reduction",
                                  "tier_peak_bandwidth_gbps",
                                  "tier_peak_probe",
                                  "mean_read_bytes",
                                  "mean_reads_in_flight",
                                  "transfer_share_by_reads_in_flight",
                                  "mean_queue_ms",
                                  "tier_large_read_bandwidth_gbps",
                                  "tier_large_read_probe",
                                  "bandwidth_efficiency_vs_large_reads",
                                  "tier_peak_samples_gbps",
                                  "tier_peak_spread",
                                  "bandwidth_efficiency_vs_median_peak",
                                  "tier_peak_by_depth_gbps",
                                  "bandwidth_efficiency_at_offered_depth"}) {
    merged.erase(perRankOnly);  // rates and times of one rank: see ranks[R].buffering
  }
  merged["slow_tier"].erase("file");
  return merged;
}

}  // namespace

std::string rankFileName(const std::string& name, int rank, bool plainForRankZero) {
  if (rank == 0 && plainForRankZero) return name;
  auto dot = name.find('.');
  std::string tag = ".rank" + std::to_string(rank);
  return dot == std::string::npos ? name + tag : name.substr(0, dot) + tag + name.substr(dot);
}

nlohmann::json mergeRankMetrics(const std::vector<nlohmann::json>& perRank) {
  nlohmann::json merged = perRank.at(0);
  nlohmann::json summary = {{"ranks", perRank.size()}, {"phases", nlohmann::json::object()}};
  for (const char* phase : kPhaseKeys) {
    if (!merged.contains(phase)) continue;
    summary["phases"][phase] = trafficSummary(perRank, phase);
    mergePhase(merged, perRank, phase);
  }
  for (const char* key : {"peak_activation_bytes", "peak_weight_bytes"}) {
    int64_t peak = 0;
    for (const auto& rank : perRank) peak = std::max(peak, rank.value(key, int64_t{0}));
    merged[key] = peak;
  }
  std::string digest;
  for (const auto& rank : perRank) {
    digest += (digest.empty() ? "" : "+") + rank.value("output_digest", std::string());
  }
  merged["output_digest"] = digest;
  if (merged.contains("buffering")) merged["buffering"] = mergeBuffering(perRank);
  merged["expert_parallel"] = summary;
  merged["ranks"] = perRank;
  return merged;
}

void mergeRoutingLogs(const std::vector<std::filesystem::path>& rankLogs,
                      const std::filesystem::path& merged) {
  std::vector<collector::RoutingLog> logs;
  for (const auto& path : rankLogs) logs.push_back(collector::readRoutingLog(path));
  for (const auto& log : logs) {
    if (!(log.header == logs[0].header) || log.records.size() != logs[0].records.size()) {
      throw std::runtime_error("the ranks' routing logs describe different runs");
    }
  }
  collector::RoutingLogWriter writer(merged, logs[0].header);
  for (size_t i = 0; i < logs[0].records.size(); ++i) {
    collector::RoutingRecord record = logs[0].records[i];
    for (size_t r = 1; r < logs.size(); ++r) {
      const auto& other = logs[r].records[i];
      if (other.batch != record.batch || other.moeLayer != record.moeLayer ||
          other.step != record.step) {
        throw std::runtime_error("the ranks' routing logs are not in lockstep at record " +
                                 std::to_string(i));
      }
      record.numTokens += other.numTokens;
      record.experts.insert(record.experts.end(), other.experts.begin(), other.experts.end());
      record.gateWeights.insert(record.gateWeights.end(), other.gateWeights.begin(),
                                other.gateWeights.end());
    }
    writer.append(record);
  }
  writer.flush();
  for (const auto& path : rankLogs) std::filesystem::remove(path);
}

nlohmann::json placementMetricsJson(const std::vector<analysis::Placement>& placements,
                                    const std::filesystem::path& routingLog) {
  analysis::RoutingLoads loads = analysis::readRoutingLoads(routingLog);
  nlohmann::json layers = nlohmann::json::array();
  double maxLoad = 0, avgMaxLoad = 0;
  for (size_t l = 0; l < loads.layers.size() && l < placements.size(); ++l) {
    auto metrics = analysis::loadMetrics(loads.layers[l].tokens, placements[l]);
    maxLoad += metrics.maxLoad;
    avgMaxLoad += metrics.avgMaxLoad;
    layers.push_back({{"max_load", metrics.maxLoad},
                      {"avg_max_load", metrics.avgMaxLoad},
                      {"experts_of_rank", placements[l].expertsOnDevices()}});
  }
  const double count = std::max<size_t>(1, layers.size());
  return {{"max_load", maxLoad / count},
          {"avg_max_load", avgMaxLoad / count},
          {"perfect_balance", placements.empty() ? 1.0 : 1.0 / placements[0].numDevices()},
          {"layers", layers}};
}

}  // namespace moeprof::workloads
