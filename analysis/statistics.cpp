#include "analysis/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace moeprof::analysis {

namespace {

// Twice the midrank of every value of a followed by b (ranks 1..N, tied values share the mean
// of their ranks): integers, so the exact distribution can be counted.
std::vector<int64_t> doubledMidranks(const std::vector<double>& all, std::vector<int64_t>& ties) {
  std::vector<size_t> order(all.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return all[x] < all[y]; });
  std::vector<int64_t> ranks(all.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && all[order[j + 1]] == all[order[i]]) ++j;
    const auto doubled = static_cast<int64_t>(i + 1 + j + 1);  // 2 x mean of ranks i+1..j+1
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = doubled;
    if (j > i) ties.push_back(static_cast<int64_t>(j - i + 1));
    i = j + 1;
  }
  return ranks;
}

// Two-sided p of the doubled rank sum `observed` of n1 values among `ranks`, counting every
// subset of n1 ranks (all equally likely under the null hypothesis).
double exactRankSumP(const std::vector<int64_t>& ranks, size_t n1, int64_t observed) {
  const int64_t maxSum = std::accumulate(ranks.begin(), ranks.end(), int64_t{0});
  // ways[k][s]: subsets of k ranks seen so far whose doubled ranks sum to s.
  std::vector<std::vector<double>> ways(n1 + 1, std::vector<double>(maxSum + 1, 0.0));
  ways[0][0] = 1;
  for (size_t i = 0; i < ranks.size(); ++i) {
    for (size_t k = std::min(n1, i + 1); k >= 1; --k) {
      for (int64_t s = maxSum; s >= ranks[i]; --s) ways[k][s] += ways[k - 1][s - ranks[i]];
    }
  }
  const double mean = static_cast<double>(n1) * static_cast<double>(ranks.size() + 1);
  const double distance = std::abs(static_cast<double>(observed) - mean);
  double total = 0, extreme = 0;
  for (int64_t s = 0; s <= maxSum; ++s) {
    total += ways[n1][s];
    // Doubled sums are integers: the small slack only absorbs the rounding of `mean`.
    if (std::abs(static_cast<double>(s) - mean) >= distance - 1e-9) extreme += ways[n1][s];
  }
  return total > 0 ? std::min(1.0, extreme / total) : 1.0;
}

double normalRankSumP(double u, size_t n1, size_t n2, const std::vector<int64_t>& ties) {
  const double n = static_cast<double>(n1 + n2);
  double tieTerm = 0;
  for (int64_t t : ties) tieTerm += static_cast<double>(t * t * t - t);
  const double variance = static_cast<double>(n1) * static_cast<double>(n2) / 12.0 *
                          ((n + 1) - tieTerm / (n * (n - 1)));
  if (variance <= 0) return 1.0;
  const double mean = static_cast<double>(n1) * static_cast<double>(n2) / 2.0;
  const double z = std::max(0.0, std::abs(u - mean) - 0.5) / std::sqrt(variance);
  return std::min(1.0, std::erfc(z / std::sqrt(2.0)));
}

double medianInPlace(std::vector<double>& values) {
  const size_t n = values.size();
  if (n == 0) return 0.0;
  auto middle = values.begin() + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(values.begin(), middle, values.end());
  double upper = *middle;
  if (n % 2 == 1) return upper;
  double lower = *std::max_element(values.begin(), middle);
  return (lower + upper) / 2.0;
}

void resample(const std::vector<double>& from, std::vector<double>& into, std::mt19937_64& rng) {
  // rng() % n: the bias is below n / 2^64, and mt19937_64's output is fixed by the standard,
  // so every platform draws the same resamples (std::uniform_int_distribution is not).
  for (double& value : into) value = from[rng() % from.size()];
}

// The q-quantile of sorted values, interpolated between closest ranks.
double quantileOfSorted(const std::vector<double>& sorted, double q) {
  const double rank = q * static_cast<double>(sorted.size() - 1);
  const auto low = static_cast<size_t>(std::floor(rank));
  const size_t high = std::min(low + 1, sorted.size() - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - static_cast<double>(low));
}

}  // namespace

double median(std::vector<double> values) {
  return medianInPlace(values);
}

RankTest mannWhitneyU(const std::vector<double>& a, const std::vector<double>& b) {
  RankTest test;
  if (a.empty() || b.empty()) return test;
  std::vector<double> all(a);
  all.insert(all.end(), b.begin(), b.end());
  std::vector<int64_t> ties;
  auto ranks = doubledMidranks(all, ties);
  int64_t doubledSumB = 0;
  for (size_t i = a.size(); i < all.size(); ++i) doubledSumB += ranks[i];
  const double nb = static_cast<double>(b.size());
  test.uB = static_cast<double>(doubledSumB) / 2.0 - nb * (nb + 1) / 2.0;
  if (all.size() <= static_cast<size_t>(kExactRankTestLimit)) {
    // Count subsets of the smaller sample's size: the same p, less work.
    const bool aSmaller = a.size() <= b.size();
    int64_t observed = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      if ((i < a.size()) == aSmaller) observed += ranks[i];
    }
    test.pValue = exactRankSumP(ranks, aSmaller ? a.size() : b.size(), observed);
    test.exact = true;
  } else {
    test.pValue = normalRankSumP(test.uB, a.size(), b.size(), ties);
  }
  return test;
}

double smallestRankTestP(int n) {
  if (n <= 0) return 1.0;
  double ways = 1;  // C(2n, n), exactly enough in a double for the sizes that matter here
  for (int i = 1; i <= n; ++i) ways = ways * (n + i) / i;
  return std::min(1.0, 2.0 / ways);
}

uint64_t metricSeed(uint64_t seed, const std::string& metric) {
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : metric) hash = (hash ^ c) * 0x100000001b3ULL;
  return seed ^ hash;
}

RatioInterval bootstrapMedianRatio(const std::vector<double>& a, const std::vector<double>& b,
                                   const BootstrapOptions& options) {
  RatioInterval interval;
  if (a.empty() || b.empty()) {
    interval.defined = false;
    return interval;
  }
  const double medianA = median(a), medianB = median(b);
  const auto allZero = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return x == 0.0; });
  };
  if (allZero(a) && allZero(b)) return interval;  // ratio 1, [1, 1]
  if (medianA <= 0 || medianB < 0) {
    interval.defined = false;
    return interval;
  }
  interval.ratio = medianB / medianA;
  std::mt19937_64 rng(options.seed);
  std::vector<double> sampleA(a.size()), sampleB(b.size()), ratios;
  ratios.reserve(static_cast<size_t>(options.resamples));
  for (int r = 0; r < options.resamples; ++r) {
    resample(a, sampleA, rng);
    resample(b, sampleB, rng);
    const double denominator = medianInPlace(sampleA);
    // A resample whose median is 0 has no ratio: counted as unbounded above, which only widens
    // the interval (and so only moves a verdict towards unknown).
    ratios.push_back(denominator > 0 ? medianInPlace(sampleB) / denominator
                                     : std::numeric_limits<double>::infinity());
  }
  std::sort(ratios.begin(), ratios.end());
  const double tail = (1.0 - options.confidence) / 2.0;
  interval.low = quantileOfSorted(ratios, tail);
  interval.high = quantileOfSorted(ratios, 1.0 - tail);
  return interval;
}

std::vector<double> holmAdjust(const std::vector<double>& pValues) {
  const size_t m = pValues.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return pValues[x] < pValues[y]; });
  std::vector<double> adjusted(m);
  double running = 0;
  for (size_t i = 0; i < m; ++i) {
    running = std::max(running, std::min(1.0, static_cast<double>(m - i) * pValues[order[i]]));
    adjusted[order[i]] = running;
  }
  return adjusted;
}

const char* verdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::Regressed:
      return "regressed";
    case Verdict::Improved:
      return "improved";
    case Verdict::Same:
      return "same";
    case Verdict::Unknown:
      return "unknown";
  }
  return "unknown";
}

const char* betterName(Better better) {
  switch (better) {
    case Better::Lower:
      return "lower";
    case Better::Higher:
      return "higher";
    case Better::None:
      return "none";
  }
  return "none";
}

Verdict timedVerdict(double adjustedP, const RatioInterval& interval, double threshold,
                     Better better, double alpha) {
  if (!interval.defined) return Verdict::Unknown;
  const double upper = 1.0 + threshold, lower = 1.0 / (1.0 + threshold);
  if (interval.low >= lower && interval.high <= upper) return Verdict::Same;
  const bool significant = adjustedP < alpha;
  const bool above = interval.low > upper, below = interval.high < lower;
  if (!significant || !(above || below)) return Verdict::Unknown;
  if (better == Better::Higher) return above ? Verdict::Improved : Verdict::Regressed;
  if (better == Better::Lower) return above ? Verdict::Regressed : Verdict::Improved;
  return Verdict::Regressed;
}

bool Tolerance::within(double a, double b) const {
  return std::abs(b - a) <= absolute + relative * std::abs(a);
}

Verdict exactVerdict(double a, double b, const Tolerance& tolerance, Better better) {
  if (tolerance.within(a, b)) return Verdict::Same;
  if (better == Better::None) return Verdict::Regressed;
  const bool worse = better == Better::Lower ? b > a : b < a;
  return worse ? Verdict::Regressed : Verdict::Improved;
}

std::optional<int> samplesNeeded(int samplesNow, const RatioInterval& interval, double threshold,
                                 double alpha, int familySize) {
  if (!interval.defined || interval.low <= 0 || !std::isfinite(interval.high)) return std::nullopt;
  const double center = std::abs(std::log(interval.ratio));
  const double halfWidth = (std::log(interval.high) - std::log(interval.low)) / 2.0;
  const double band = std::log1p(threshold);
  const double margin = std::abs(band - center);
  if (margin < 1e-3) return std::nullopt;
  // 1.2: room for the estimated ratio itself to move as samples are added.
  double needed = std::max(1, samplesNow) * std::pow(halfWidth / margin, 2) * 1.2;
  int n = static_cast<int>(std::ceil(std::max<double>(needed, samplesNow + 1)));
  if (center > band) {  // heading for regressed or improved: also needs a small enough p
    while (n < 1000 && smallestRankTestP(n) * std::max(1, familySize) >= alpha) ++n;
  }
  return n;
}

}  // namespace moeprof::analysis
