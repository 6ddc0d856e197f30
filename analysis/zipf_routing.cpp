#include "analysis/zipf_routing.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <string>

#include "collector/errors.h"

namespace moeprof::analysis {
namespace {

// After this many draws that hit experts already taken, the rest of the law is scanned instead
// (only matters when s is so large that a few experts hold nearly all weight).
constexpr int kMaxRejections = 64;

struct Sampler {
  std::vector<double> weights;
  std::vector<double> cumulative;  // inclusive prefix sums of weights

  explicit Sampler(std::vector<double> w) : weights(std::move(w)), cumulative(weights.size()) {
    std::partial_sum(weights.begin(), weights.end(), cumulative.begin());
  }

  uint16_t drawOne(SplitMix64& random) const {
    const double target = random.uniform() * cumulative.back();
    auto it = std::upper_bound(cumulative.begin(), cumulative.end(), target);
    if (it == cumulative.end()) --it;
    return static_cast<uint16_t>(it - cumulative.begin());
  }

  // One draw from the law restricted to experts not in `taken`.
  uint16_t drawExcluding(SplitMix64& random, const uint16_t* taken, size_t numTaken) const {
    auto isTaken = [&](uint16_t e) {
      return std::find(taken, taken + numTaken, e) != taken + numTaken;
    };
    for (int attempt = 0; attempt < kMaxRejections; ++attempt) {
      uint16_t e = drawOne(random);
      if (!isTaken(e)) return e;
    }
    double left = 0;
    for (size_t e = 0; e < weights.size(); ++e) {
      if (!isTaken(static_cast<uint16_t>(e))) left += weights[e];
    }
    double target = random.uniform() * left;
    uint16_t last = 0;
    for (size_t e = 0; e < weights.size(); ++e) {
      if (isTaken(static_cast<uint16_t>(e))) continue;
      last = static_cast<uint16_t>(e);
      target -= weights[e];
      if (target < 0) return last;
    }
    return last;
  }
};

void checkExponent(double s) {
  if (!(s > 0) || !std::isfinite(s)) {
    std::ostringstream value;
    value << s;
    throw InputError("Zipf exponent s = " + value.str() +
                     " is not allowed (allowed: a finite number > 0, e.g. 0.8 or 1.2)");
  }
}

uint64_t layerSeed(uint64_t seed, size_t layer) {
  SplitMix64 mix(seed ^ (0x9E3779B97F4A7C15ULL * (layer + 1)));
  return mix.next();
}

}  // namespace

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double SplitMix64::uniform() {
  return double(next() >> 11) * 0x1.0p-53;
}

uint64_t SplitMix64::below(uint64_t bound) {
  // Rejection keeps it unbiased: values past the last whole multiple of bound are redrawn.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t value = next();
  while (value >= limit) value = next();
  return value % bound;
}

std::vector<double> zipfExpertWeights(uint32_t numExperts, double s, uint64_t seed) {
  checkExponent(s);
  if (numExperts == 0) throw InputError("Zipf routing needs at least one expert");
  std::vector<uint32_t> rankOf(numExperts);
  std::iota(rankOf.begin(), rankOf.end(), 0u);
  SplitMix64 random(seed);
  for (uint32_t i = numExperts - 1; i > 0; --i) {
    std::swap(rankOf[i], rankOf[random.below(uint64_t(i) + 1)]);
  }
  std::vector<double> weights(numExperts);
  double sum = 0;
  for (uint32_t e = 0; e < numExperts; ++e) {
    weights[e] = std::pow(double(rankOf[e] + 1), -s);
    sum += weights[e];
  }
  for (double& w : weights) w /= sum;
  return weights;
}

collector::RoutingLog zipfRoutingLike(const collector::RoutingLog& shape, double s, uint64_t seed) {
  checkExponent(s);
  const auto& header = shape.header;
  const uint32_t k = header.topK;
  if (k == 0 || k > header.numExperts) {
    throw InputError("Zipf routing needs 1 <= top-k <= experts; the log has top-" +
                     std::to_string(k) + " of " + std::to_string(header.numExperts));
  }
  std::vector<Sampler> samplers;
  for (size_t l = 0; l < header.layers.size(); ++l) {
    samplers.emplace_back(zipfExpertWeights(header.numExperts, s, layerSeed(seed, l)));
  }
  collector::RoutingLog log;
  log.header = header;
  log.records.reserve(shape.records.size());
  SplitMix64 random(seed);
  const float gate = collector::bfloat16ToFloat(collector::floatToBfloat16(1.0f / float(k)));
  for (const collector::RoutingRecord& source : shape.records) {
    if (source.moeLayer >= samplers.size()) {
      throw InputError("routing record of batch " + std::to_string(source.batch) +
                       " names MoE layer " + std::to_string(source.moeLayer) + "; the log has " +
                       std::to_string(samplers.size()) + " layers");
    }
    collector::RoutingRecord record;
    record.batch = source.batch;
    record.moeLayer = source.moeLayer;
    record.step = source.step;
    record.numTokens = source.numTokens;
    record.experts.resize(size_t(source.numTokens) * k);
    record.gateWeights.assign(record.experts.size(), gate);
    const Sampler& sampler = samplers[source.moeLayer];
    for (size_t t = 0; t < source.numTokens; ++t) {
      uint16_t* choices = record.experts.data() + t * k;
      choices[0] = sampler.drawOne(random);
      for (uint32_t j = 1; j < k; ++j) choices[j] = sampler.drawExcluding(random, choices, j);
    }
    log.records.push_back(std::move(record));
  }
  return log;
}

}  // namespace moeprof::analysis
