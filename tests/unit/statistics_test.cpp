// The statistics behind comparisons: hand-computed rank tests (ties included), Holm's
// adjustment, the verdict rules, and on synthetic distributions the bootstrap interval's
// coverage (about 95%) and the false-alarm rate (at most alpha).
#include "analysis/statistics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace moeprof::analysis {
namespace {

std::vector<double> lognormal(std::mt19937_64& rng, int n, double scale, double sigma) {
  std::lognormal_distribution<double> distribution(std::log(scale), sigma);
  std::vector<double> values(static_cast<size_t>(n));
  for (double& v : values) v = distribution(rng);
  return values;
}

TEST(Median, OddEvenAndEmpty) {
  EXPECT_EQ(median({3, 1, 2}), 2);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(median({}), 0);
}

TEST(MannWhitneyU, ExactWithoutTies) {
  // Every b above every a: the most extreme of C(6, 3) = 20 splits, on either side: p = 2/20.
  RankTest test = mannWhitneyU({1, 2, 3}, {4, 5, 6});
  EXPECT_TRUE(test.exact);
  EXPECT_DOUBLE_EQ(test.uB, 9);
  EXPECT_NEAR(test.pValue, 0.1, 1e-12);
  EXPECT_NEAR(mannWhitneyU({4, 5, 6}, {1, 2, 3}).pValue, 0.1, 1e-12) << "two-sided";
}

TEST(MannWhitneyU, ExactWithTiesByHand) {
  // Midranks of 1 1 2 2 3 3 are 1.5 1.5 3.5 3.5 5.5 5.5; a's doubled rank sum is 13 against a
  // mean of 21. Of the 20 ways to pick 3 of the doubled ranks {3,3,7,7,11,11}, sums 13 (2 ways)
  // and 29 (2 ways) are at least 8 from 21: p = 4/20.
  RankTest test = mannWhitneyU({1, 1, 2}, {2, 3, 3});
  EXPECT_TRUE(test.exact);
  EXPECT_DOUBLE_EQ(test.uB, 8.5);  // b > a pairs: 2 > 1 twice, 3 > x six times, 2 = 2 a half
  EXPECT_NEAR(test.pValue, 0.2, 1e-12);
}

TEST(MannWhitneyU, AllTiedOrEmptyIsNotSignificant) {
  EXPECT_EQ(mannWhitneyU({5, 5, 5}, {5, 5}).pValue, 1.0);
  EXPECT_EQ(mannWhitneyU({}, {1, 2}).pValue, 1.0);
  std::vector<double> big(40, 7.0);
  EXPECT_EQ(mannWhitneyU(big, big).pValue, 1.0) << "normal approximation, zero variance";
}

TEST(MannWhitneyU, NormalApproximationByHand) {
  // 40 and 40 values, b = a + 20: the values 20..39 are tied pairs (20 ties of 2).
  std::vector<double> a, b;
  for (int i = 0; i < 40; ++i) a.push_back(i), b.push_back(i + 20);
  RankTest test = mannWhitneyU(a, b);
  EXPECT_FALSE(test.exact);
  // Pairs with b > a: for each b = j + 20, the a below it: min(40, j + 20), ties at equal.
  double u = 0;
  for (int j = 0; j < 40; ++j)
    for (int i = 0; i < 40; ++i) u += (j + 20 > i) ? 1.0 : (j + 20 == i ? 0.5 : 0.0);
  EXPECT_DOUBLE_EQ(test.uB, u);
  const double sigma = std::sqrt(40.0 * 40.0 / 12.0 * (81.0 - 20.0 * (8 - 2) / (80.0 * 79.0)));
  const double z = (u - 800.0 - 0.5) / sigma;
  EXPECT_NEAR(test.pValue, std::erfc(z / std::sqrt(2.0)), 1e-12);
}

TEST(MannWhitneyU, ExactAndApproximationAgreeNearTheLimit) {
  std::mt19937_64 rng(7);
  auto a = lognormal(rng, 30, 1.0, 0.3), b = lognormal(rng, 30, 1.2, 0.3);
  RankTest exact = mannWhitneyU(a, b);  // 60 values: still exact
  ASSERT_TRUE(exact.exact);
  a.push_back(1.0);  // 61: normal approximation
  RankTest approximate = mannWhitneyU(a, b);
  ASSERT_FALSE(approximate.exact);
  EXPECT_NEAR(std::log10(exact.pValue), std::log10(approximate.pValue), 0.5);
}

TEST(SmallestRankTestP, MatchesTheExactTest) {
  EXPECT_NEAR(smallestRankTestP(3), 0.1, 1e-12);
  EXPECT_NEAR(smallestRankTestP(5), 2.0 / 252, 1e-12);
  EXPECT_NEAR(mannWhitneyU({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}).pValue, 2.0 / 252, 1e-12);
}

TEST(HolmAdjust, ByHand) {
  // Sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> monotone 0.06.
  auto adjusted = holmAdjust({0.01, 0.04, 0.03, 0.005});
  ASSERT_EQ(adjusted.size(), 4u);
  EXPECT_NEAR(adjusted[0], 0.03, 1e-12);
  EXPECT_NEAR(adjusted[1], 0.06, 1e-12);
  EXPECT_NEAR(adjusted[2], 0.06, 1e-12);
  EXPECT_NEAR(adjusted[3], 0.02, 1e-12);
  EXPECT_EQ(holmAdjust({0.6, 0.7})[1], 1.0) << "capped at 1";
  EXPECT_TRUE(holmAdjust({}).empty());
}

TEST(BootstrapMedianRatio, ReproducibleAndCentred) {
  std::vector<double> a = {10, 11, 9, 10, 12, 10, 9, 11}, b = {20, 22, 18, 20, 24, 20, 18, 22};
  BootstrapOptions options;
  auto first = bootstrapMedianRatio(a, b, options);
  auto second = bootstrapMedianRatio(a, b, options);
  EXPECT_EQ(first.low, second.low);
  EXPECT_EQ(first.high, second.high);
  EXPECT_DOUBLE_EQ(first.ratio, 2.0);
  EXPECT_LE(first.low, 2.0);
  EXPECT_GE(first.high, 2.0);
  EXPECT_GT(first.low, 1.5);
  EXPECT_NE(metricSeed(1, "a"), metricSeed(1, "b"));
}

TEST(BootstrapMedianRatio, ZerosAndEmpty) {
  auto zeros = bootstrapMedianRatio({0, 0, 0}, {0, 0}, {});
  EXPECT_TRUE(zeros.defined);
  EXPECT_EQ(zeros.ratio, 1.0);
  EXPECT_EQ(zeros.low, 1.0);
  EXPECT_EQ(zeros.high, 1.0);
  EXPECT_FALSE(bootstrapMedianRatio({0, 0, 1}, {1, 2}, {}).defined) << "median of A is 0";
  EXPECT_FALSE(bootstrapMedianRatio({}, {1}, {}).defined);
}

// Coverage: how often the 95% interval holds the true ratio of medians (1.3, a multiplicative
// shift of one lognormal). The percentile bootstrap of a median is a little liberal for small
// samples; about 95% means 0.90 to 0.99 over 400 trials (binomial sd about 1.1%).
TEST(BootstrapMedianRatio, CoversTheTrueRatioAbout95Percent) {
  std::mt19937_64 rng(2024);
  BootstrapOptions options;
  options.resamples = 1000;
  for (int n : {12, 30}) {
    int covered = 0;
    const int trials = 400;
    for (int t = 0; t < trials; ++t) {
      auto a = lognormal(rng, n, 10.0, 0.25), b = lognormal(rng, n, 13.0, 0.25);
      options.seed = static_cast<uint64_t>(t);
      auto interval = bootstrapMedianRatio(a, b, options);
      covered += interval.low <= 1.3 && 1.3 <= interval.high;
    }
    const double coverage = static_cast<double>(covered) / trials;
    EXPECT_GE(coverage, 0.90) << "n " << n;
    EXPECT_LE(coverage, 0.99) << "n " << n;
  }
}

// A/A on synthetic samples: the rank test rejects at most alpha of the time, and with Holm's
// adjustment over a family of 8 metrics, at most alpha of the families have any false alarm
// (any `regressed` verdict). Bounds: alpha plus three binomial standard deviations.
TEST(MannWhitneyU, FalseAlarmRateAtMostAlpha) {
  std::mt19937_64 rng(99);
  const double alpha = 0.01;
  const int trials = 1500;
  int rejected = 0, familiesRejected = 0, regressed = 0;
  for (int t = 0; t < trials; ++t) {
    auto a = lognormal(rng, 15, 5.0, 0.3), b = lognormal(rng, 15, 5.0, 0.3);
    rejected += mannWhitneyU(a, b).pValue < alpha;
  }
  for (int t = 0; t < trials / 5; ++t) {
    std::vector<double> p;
    std::vector<RatioInterval> intervals;
    for (int m = 0; m < 8; ++m) {
      auto a = lognormal(rng, 12, 5.0, 0.3), b = lognormal(rng, 12, 5.0, 0.3);
      p.push_back(mannWhitneyU(a, b).pValue);
      BootstrapOptions options;
      options.resamples = 500;
      options.seed = static_cast<uint64_t>(t * 8 + m);
      intervals.push_back(bootstrapMedianRatio(a, b, options));
    }
    auto adjusted = holmAdjust(p);
    bool any = false, anyRegressed = false;
    for (size_t m = 0; m < p.size(); ++m) {
      any |= adjusted[m] < alpha;
      anyRegressed |=
          timedVerdict(adjusted[m], intervals[m], 0.1, Better::Lower, alpha) == Verdict::Regressed;
    }
    familiesRejected += any;
    regressed += anyRegressed;
  }
  EXPECT_LE(rejected, trials * alpha + 3 * std::sqrt(trials * alpha));
  const double families = trials / 5;
  EXPECT_LE(familiesRejected, families * alpha + 3 * std::sqrt(families * alpha));
  // A `regressed` verdict needs significance AND the interval beyond 10%: rarer still.
  EXPECT_LE(regressed, familiesRejected);
}

// The other side of the same test: a real 30% slowdown with 15 samples a side is found.
TEST(MannWhitneyU, DetectsAKnownSlowdown) {
  std::mt19937_64 rng(5);
  int detected = 0;
  for (int t = 0; t < 50; ++t) {
    auto a = lognormal(rng, 15, 5.0, 0.05), b = lognormal(rng, 15, 6.5, 0.05);
    BootstrapOptions options;
    options.resamples = 500;
    auto interval = bootstrapMedianRatio(a, b, options);
    detected += timedVerdict(mannWhitneyU(a, b).pValue, interval, 0.1, Better::Lower, 0.01) ==
                Verdict::Regressed;
  }
  EXPECT_GE(detected, 48);
}

TEST(TimedVerdict, FourOutcomes) {
  const RatioInterval up{1.5, 1.3, 1.7}, down{0.6, 0.5, 0.7}, flat{1.0, 0.97, 1.04},
      wide{1.2, 0.8, 1.8};
  EXPECT_EQ(timedVerdict(0.001, up, 0.1, Better::Lower, 0.01), Verdict::Regressed);
  EXPECT_EQ(timedVerdict(0.001, up, 0.1, Better::Higher, 0.01), Verdict::Improved);
  EXPECT_EQ(timedVerdict(0.001, down, 0.1, Better::Lower, 0.01), Verdict::Improved);
  EXPECT_EQ(timedVerdict(0.001, down, 0.1, Better::Higher, 0.01), Verdict::Regressed);
  EXPECT_EQ(timedVerdict(0.5, flat, 0.1, Better::Lower, 0.01), Verdict::Same);
  EXPECT_EQ(timedVerdict(0.001, flat, 0.1, Better::Lower, 0.01), Verdict::Same)
      << "significant but inside the threshold";
  EXPECT_EQ(timedVerdict(0.5, up, 0.1, Better::Lower, 0.01), Verdict::Unknown)
      << "beyond the threshold but not significant";
  EXPECT_EQ(timedVerdict(0.001, wide, 0.1, Better::Lower, 0.01), Verdict::Unknown);
  EXPECT_EQ(timedVerdict(0.001, {1, 1, 1, false}, 0.1, Better::Lower, 0.01), Verdict::Unknown);
}

TEST(ExactVerdict, ToleranceAndDirection) {
  EXPECT_EQ(exactVerdict(12.8, 12.8, {}, Better::Lower), Verdict::Same);
  EXPECT_EQ(exactVerdict(12.8, 13.0, {}, Better::Lower), Verdict::Regressed);
  EXPECT_EQ(exactVerdict(12.8, 1.0, {}, Better::Lower), Verdict::Improved);
  EXPECT_EQ(exactVerdict(100, 90, {}, Better::Higher), Verdict::Regressed);
  EXPECT_EQ(exactVerdict(100, 101, {0, 0.02}, Better::Lower), Verdict::Same);
  EXPECT_EQ(exactVerdict(100, 103, {0, 0.02}, Better::Lower), Verdict::Regressed);
  EXPECT_EQ(exactVerdict(100, 99, {}, Better::None), Verdict::Regressed) << "unexplained change";
}

TEST(SamplesNeeded, GrowsAsTheIntervalMustShrink) {
  // Ratio 1.0, interval +-15% on 5 samples, threshold 10%: the half-width must shrink from
  // about 0.14 to 0.095 in log terms: about (0.14 / 0.095)^2 x 1.2 x 5 = 13 samples.
  const RatioInterval wide{1.0, 1.0 / 1.15, 1.15};
  auto n = samplesNeeded(5, wide, 0.10, 0.01, 1);
  ASSERT_TRUE(n.has_value());
  EXPECT_GE(*n, 10);
  EXPECT_LE(*n, 16);
  // Heading for a regression: also enough samples for the exact test after Holm over 20.
  const RatioInterval up{1.5, 0.9, 2.5};
  auto m = samplesNeeded(3, up, 0.10, 0.01, 20);
  ASSERT_TRUE(m.has_value());
  EXPECT_LT(smallestRankTestP(*m) * 20, 0.01);
  EXPECT_FALSE(samplesNeeded(5, {1.1, 0.9, 1.3}, 0.10, 0.01, 1).has_value())
      << "a ratio on the threshold";
}

}  // namespace
}  // namespace moeprof::analysis
