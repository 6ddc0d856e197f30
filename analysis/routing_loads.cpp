#include "analysis/routing_loads.h"

#include <map>
#include <string>

#include "analysis/routing_order.h"
#include "collector/errors.h"

namespace moeprof::analysis {
namespace {

using RowKey = std::pair<uint32_t, uint32_t>;  // (batch, step)

// Rows in which both experts were active, counted over every pair (diagonal: active rows).
std::vector<std::vector<int64_t>> coActivationCounts(const LoadTrace& tokens, size_t numExperts) {
  std::vector<std::vector<int64_t>> counts(numExperts, std::vector<int64_t>(numExperts, 0));
  std::vector<size_t> active;
  for (const std::vector<double>& row : tokens) {
    active.clear();
    for (size_t e = 0; e < numExperts; ++e) {
      if (row[e] > 0) active.push_back(e);
    }
    // Only active experts: sparse decoder rows cost far less than numExperts^2.
    for (size_t i : active) {
      for (size_t j : active) ++counts[i][j];
    }
  }
  return counts;
}

}  // namespace

RoutingLoads routingLoads(const collector::RoutingLog& log) {
  checkRoutingOrder(log);
  const collector::RoutingLogHeader& header = log.header;
  const size_t numExperts = header.numExperts;
  std::vector<std::map<RowKey, std::vector<double>>> rowsByLayer(header.layers.size());
  for (const collector::RoutingRecord& record : log.records) {
    if (record.moeLayer >= header.layers.size()) {
      throw InputError("routing record of batch " + std::to_string(record.batch) +
                       " names MoE layer " + std::to_string(record.moeLayer) + "; the log has " +
                       std::to_string(header.layers.size()) + " layers");
    }
    std::vector<double>& row = rowsByLayer[record.moeLayer][{record.batch, record.step}];
    row.resize(numExperts, 0.0);
    for (uint16_t choice : record.experts) {
      const uint16_t expert = choice & static_cast<uint16_t>(~collector::kDroppedFlag);
      if (expert >= numExperts) {
        throw InputError("routing record of batch " + std::to_string(record.batch) +
                         " names expert " + std::to_string(expert) + "; experts are 0.." +
                         std::to_string(numExperts - 1));
      }
      row[expert] += 1;
    }
  }
  RoutingLoads loads;
  loads.numExperts = header.numExperts;
  loads.topK = header.topK;
  for (size_t l = 0; l < header.layers.size(); ++l) {
    LayerLoads layer;
    layer.layer = header.layers[l];
    for (auto& [key, row] : rowsByLayer[l]) {
      layer.rows.push_back(key);
      layer.tokens.push_back(std::move(row));
    }
    layer.coActivation = coActivationCounts(layer.tokens, numExperts);
    loads.layers.push_back(std::move(layer));
  }
  return loads;
}

RoutingLoads readRoutingLoads(const std::filesystem::path& path) {
  collector::RoutingLog log = collector::readRoutingLog(path);
  checkRoutingOrder(log, path.string());
  return routingLoads(log);
}

}  // namespace moeprof::analysis
