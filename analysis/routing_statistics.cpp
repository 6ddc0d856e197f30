#include "analysis/routing_statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <utility>

#include "analysis/routing_order.h"
#include "collector/errors.h"

namespace moeprof::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using RowKey = std::pair<uint32_t, uint32_t>;  // (batch, step)
// Per layer: assignment counts per expert in each pass, passes in execution order.
using LayerRows = std::map<RowKey, std::vector<double>>;

std::vector<LayerRows> countRows(const collector::RoutingLog& log) {
  checkRoutingOrder(log);
  const auto& header = log.header;
  std::vector<LayerRows> rows(header.layers.size());
  for (const collector::RoutingRecord& record : log.records) {
    if (record.moeLayer >= header.layers.size()) {
      throw InputError("routing record of batch " + std::to_string(record.batch) +
                       " names MoE layer " + std::to_string(record.moeLayer) + "; the log has " +
                       std::to_string(header.layers.size()) + " layers");
    }
    std::vector<double>& row = rows[record.moeLayer][{record.batch, record.step}];
    row.resize(header.numExperts, 0.0);
    for (uint16_t choice : record.experts) {
      const uint16_t expert = choice & static_cast<uint16_t>(~collector::kDroppedFlag);
      if (expert >= header.numExperts) {
        throw InputError("routing record of batch " + std::to_string(record.batch) +
                         " names expert " + std::to_string(expert) + "; experts are 0.." +
                         std::to_string(header.numExperts - 1));
      }
      row[expert] += 1;
    }
  }
  return rows;
}

// Skew of the layer's whole-log totals.
void totalSkew(const std::vector<double>& totals, LayerStatistics& s) {
  const double sum = std::accumulate(totals.begin(), totals.end(), 0.0);
  s.assignments = static_cast<uint64_t>(sum);
  s.loadShare.assign(totals.size(), 0.0);
  if (sum <= 0) return;
  for (size_t e = 0; e < totals.size(); ++e) s.loadShare[e] = totals[e] / sum;
  s.gini = giniCoefficient(totals);
  s.top10Share = topShare(totals, kHotExpertFraction);
  s.hottestToUniform =
      *std::max_element(totals.begin(), totals.end()) * double(totals.size()) / sum;
  s.neverActive =
      double(std::count(totals.begin(), totals.end(), 0.0)) / static_cast<double>(totals.size());
}

// Per-pass skew, idleness, temporal locality and reuse distances.
void passStatistics(const LayerRows& rows, size_t numExperts, LayerStatistics& s) {
  std::vector<int64_t> lastActive(numExperts, -1);
  std::vector<char> previous(numExperts, 0);
  std::map<uint32_t, std::vector<char>> activeInBatch;
  uint64_t passesWithTokens = 0, activeBefore = 0, activeAgain = 0;
  double giniSum = 0, hottestSum = 0, inactiveSum = 0;
  int64_t pass = 0;
  for (const auto& [key, counts] : rows) {
    const double sum = std::accumulate(counts.begin(), counts.end(), 0.0);
    std::vector<char>& batchActive = activeInBatch[key.first];
    batchActive.resize(numExperts, 0);
    uint64_t inactive = 0;
    for (size_t e = 0; e < numExperts; ++e) {
      const bool active = counts[e] > 0;
      if (pass > 0 && previous[e]) {
        ++activeBefore;
        activeAgain += active ? 1 : 0;
      }
      previous[e] = active;
      if (!active) {
        ++inactive;
        continue;
      }
      batchActive[e] = 1;
      ++s.reuse.accesses;
      if (lastActive[e] < 0) {
        ++s.reuse.coldAccesses;
      } else {
        const auto distance = static_cast<size_t>(pass - lastActive[e]);
        if (s.reuse.histogram.size() <= distance) s.reuse.histogram.resize(distance + 1, 0);
        ++s.reuse.histogram[distance];
      }
      lastActive[e] = pass;
    }
    inactiveSum += double(inactive) / double(numExperts);
    if (sum > 0) {
      ++passesWithTokens;
      giniSum += giniCoefficient(counts);
      const double hottest = *std::max_element(counts.begin(), counts.end()) / sum;
      hottestSum += hottest;
      s.maxHottestPassShare = std::max(s.maxHottestPassShare, hottest);
    }
    ++pass;
  }
  s.passes = rows.size();
  s.batches = activeInBatch.size();
  if (s.passes == 0) {
    s.inactivePerPass = s.inactivePerBatch = s.reuseNextPass = kNaN;
    return;
  }
  s.inactivePerPass = inactiveSum / double(s.passes);
  double batchInactiveSum = 0;
  for (const auto& [batch, active] : activeInBatch) {
    batchInactiveSum += double(std::count(active.begin(), active.end(), 0)) / double(numExperts);
  }
  s.inactivePerBatch = batchInactiveSum / double(s.batches);
  s.reuseNextPass = activeBefore == 0 ? kNaN : double(activeAgain) / double(activeBefore);
  if (passesWithTokens > 0) {
    s.meanPassGini = giniSum / double(passesWithTokens);
    s.meanHottestPassShare = hottestSum / double(passesWithTokens);
  }
}

LayerStatistics layerStatistics(const collector::MoeLayerInfo& info, const LayerRows& rows,
                                size_t numExperts) {
  LayerStatistics s;
  s.layer = info;
  std::vector<double> totals(numExperts, 0.0);
  for (const auto& [key, counts] : rows) {
    for (size_t e = 0; e < numExperts; ++e) totals[e] += counts[e];
  }
  totalSkew(totals, s);
  passStatistics(rows, numExperts, s);
  return s;
}

// Mean over layers, leaving out NaN (a layer with a single pass has no temporal locality).
double meanOver(const std::vector<const LayerStatistics*>& layers, double LayerStatistics::*field) {
  double sum = 0;
  int n = 0;
  for (const LayerStatistics* layer : layers) {
    if (std::isnan(layer->*field)) continue;
    sum += layer->*field;
    ++n;
  }
  return n == 0 ? kNaN : sum / n;
}

StackStatistics stackStatistics(collector::LayerStack stack,
                                const std::vector<const LayerStatistics*>& layers) {
  StackStatistics s;
  s.stack = stack;
  s.layers = static_cast<int>(layers.size());
  s.passesPerLayer = layers.front()->passes;
  s.gini = meanOver(layers, &LayerStatistics::gini);
  s.top10Share = meanOver(layers, &LayerStatistics::top10Share);
  s.hottestToUniform = meanOver(layers, &LayerStatistics::hottestToUniform);
  s.meanPassGini = meanOver(layers, &LayerStatistics::meanPassGini);
  s.meanHottestPassShare = meanOver(layers, &LayerStatistics::meanHottestPassShare);
  s.inactivePerPass = meanOver(layers, &LayerStatistics::inactivePerPass);
  s.inactivePerBatch = meanOver(layers, &LayerStatistics::inactivePerBatch);
  s.neverActive = meanOver(layers, &LayerStatistics::neverActive);
  s.reuseNextPass = meanOver(layers, &LayerStatistics::reuseNextPass);
  for (const LayerStatistics* layer : layers) {
    s.maxHottestPassShare = std::max(s.maxHottestPassShare, layer->maxHottestPassShare);
    s.reuse.add(layer->reuse);
  }
  return s;
}

void requireSameModel(const collector::RoutingLogHeader& a, const collector::RoutingLogHeader& b) {
  if (a == b) return;
  throw InputError("similarity compares runs of one model: one run's routing is of '" + a.model +
                   "' (" + std::to_string(a.numExperts) + " experts, top-" +
                   std::to_string(a.topK) + ", " + std::to_string(a.layers.size()) +
                   " MoE layers), another's of '" + b.model + "' (" + std::to_string(b.numExperts) +
                   " experts, top-" + std::to_string(b.topK) + ", " +
                   std::to_string(b.layers.size()) + " MoE layers)");
}

}  // namespace

double ReuseSummary::coldFraction() const {
  return accesses == 0 ? kNaN : double(coldAccesses) / double(accesses);
}

double ReuseSummary::meanDistance() const {
  double sum = 0;
  for (size_t d = 1; d < histogram.size(); ++d) sum += double(d) * double(histogram[d]);
  return reuses() == 0 ? kNaN : sum / double(reuses());
}

double ReuseSummary::quantileDistance(double q) const {
  if (reuses() == 0) return kNaN;
  const double needed = q * double(reuses());
  uint64_t seen = 0;
  for (size_t d = 1; d < histogram.size(); ++d) {
    seen += histogram[d];
    if (double(seen) >= needed && seen > 0) return double(d);
  }
  return double(histogram.size() - 1);
}

void ReuseSummary::add(const ReuseSummary& other) {
  accesses += other.accesses;
  coldAccesses += other.coldAccesses;
  if (histogram.size() < other.histogram.size()) histogram.resize(other.histogram.size(), 0);
  for (size_t d = 0; d < other.histogram.size(); ++d) histogram[d] += other.histogram[d];
}

const StackStatistics* RoutingStatistics::stack(collector::LayerStack which) const {
  for (const StackStatistics& s : stacks) {
    if (s.stack == which) return &s;
  }
  return nullptr;
}

double giniCoefficient(std::vector<double> values) {
  const double sum = std::accumulate(values.begin(), values.end(), 0.0);
  if (values.empty() || sum <= 0) return 0;
  std::sort(values.begin(), values.end());
  double weighted = 0;
  for (size_t i = 0; i < values.size(); ++i) weighted += double(i + 1) * values[i];
  const double n = double(values.size());
  return 2 * weighted / (n * sum) - (n + 1) / n;
}

double topShare(std::vector<double> values, double fraction) {
  const double sum = std::accumulate(values.begin(), values.end(), 0.0);
  if (values.empty() || sum <= 0) return 0;
  // The small epsilon keeps 0.1 x 10 experts at one expert despite binary rounding.
  auto count = static_cast<size_t>(std::ceil(fraction * double(values.size()) - 1e-9));
  count = std::clamp<size_t>(count, 1, values.size());
  std::partial_sort(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(count),
                    values.end(), std::greater<>());
  return std::accumulate(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(count), 0.0) /
         sum;
}

RoutingStatistics routingStatistics(const collector::RoutingLog& log) {
  RoutingStatistics result;
  result.header = log.header;
  std::vector<LayerRows> rows = countRows(log);
  for (size_t l = 0; l < rows.size(); ++l) {
    result.layers.push_back(layerStatistics(log.header.layers[l], rows[l], log.header.numExperts));
  }
  for (auto stack : {collector::LayerStack::Lm, collector::LayerStack::Encoder,
                     collector::LayerStack::Decoder}) {
    std::vector<const LayerStatistics*> layers;
    for (const LayerStatistics& layer : result.layers) {
      if (layer.layer.stack == stack) layers.push_back(&layer);
    }
    if (!layers.empty()) result.stacks.push_back(stackStatistics(stack, layers));
  }
  return result;
}

double cosineSimilarity(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0, normA = 0, normB = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += a[i] * b[i];
    normA += a[i] * a[i];
    normB += b[i] * b[i];
  }
  if (normA <= 0 || normB <= 0) return kNaN;
  return dot / std::sqrt(normA * normB);
}

double jensenShannonDivergence(const std::vector<double>& p, const std::vector<double>& q) {
  double divergence = 0;
  for (size_t i = 0; i < p.size() && i < q.size(); ++i) {
    const double m = 0.5 * (p[i] + q[i]);
    if (p[i] > 0) divergence += 0.5 * p[i] * std::log2(p[i] / m);
    if (q[i] > 0) divergence += 0.5 * q[i] * std::log2(q[i] / m);
  }
  return std::clamp(divergence, 0.0, 1.0);
}

LoadSimilarity loadSimilarity(const RoutingStatistics& a, const RoutingStatistics& b,
                              std::optional<collector::LayerStack> stack) {
  requireSameModel(a.header, b.header);
  LoadSimilarity result;
  double cosineSum = 0, divergenceSum = 0;
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const LayerStatistics& la = a.layers[l];
    const LayerStatistics& lb = b.layers[l];
    if (stack && la.layer.stack != *stack) continue;
    if (la.assignments == 0 || lb.assignments == 0) continue;
    cosineSum += cosineSimilarity(la.loadShare, lb.loadShare);
    divergenceSum += jensenShannonDivergence(la.loadShare, lb.loadShare);
    ++result.layers;
  }
  result.cosine = result.layers == 0 ? kNaN : cosineSum / result.layers;
  result.jensenShannon = result.layers == 0 ? kNaN : divergenceSum / result.layers;
  return result;
}

}  // namespace moeprof::analysis
