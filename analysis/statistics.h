#pragma once
// The statistics behind every comparison of timings (`moeprof compare`, reports against a
// baseline, CI, the GUI): a rank test, a bootstrap interval of the ratio of medians, Holm's
// adjustment for many metrics at once, and the four verdicts. Plain numbers in and out: no run
// directories, no JSON. docs/comparisons.md explains the choices.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moeprof::analysis {

// Median (the mean of the two middle values for an even count); 0 for no values.
double median(std::vector<double> values);

// The result of a two-sided Mann-Whitney U test (Wilcoxon rank-sum) of two samples.
struct RankTest {
  double uB = 0;       // U of sample b: pairs (a, b) with b > a, ties counting one half
  double pValue = 1;   // two-sided; 1 when either sample is empty or every value is tied
  bool exact = false;  // from the exact permutation distribution (false: normal approximation)
};

// Exact for small samples (n_a + n_b <= kExactRankTestLimit): the permutation distribution of
// the sum of midranks, so ties are handled exactly. Larger samples: the normal approximation
// with the tie-corrected variance and a continuity correction.
inline constexpr int kExactRankTestLimit = 60;
RankTest mannWhitneyU(const std::vector<double>& a, const std::vector<double>& b);

// The smallest two-sided p-value the exact test can give for samples of n and n values without
// ties (2 / C(2n, n)): with fewer values no difference can be significant at that level.
double smallestRankTestP(int n);

// A percentile-bootstrap interval of median(b) / median(a).
struct RatioInterval {
  double ratio = 1;  // median(b) / median(a) of the samples themselves
  double low = 1;
  double high = 1;
  bool defined = true;  // false when a median is not positive (a ratio means nothing then)
};

struct BootstrapOptions {
  int resamples = 2000;
  double confidence = 0.95;
  uint64_t seed = 20250101;  // fixed: the same samples always give the same interval
};

// Resamples a and b independently with replacement. Both samples all zero: ratio 1, interval
// [1, 1] (a phase that never ran on either side).
RatioInterval bootstrapMedianRatio(const std::vector<double>& a, const std::vector<double>& b,
                                   const BootstrapOptions& options);

// A seed per metric, so that each metric's interval is reproducible on its own: the fixed
// seed mixed with a hash of the metric's name.
uint64_t metricSeed(uint64_t seed, const std::string& metric);

// Holm's step-down adjustment (family-wise error rate): the i-th smallest of m p-values is
// multiplied by (m - i + 1), made monotone and capped at 1. Same order as the input.
std::vector<double> holmAdjust(const std::vector<double>& pValues);

enum class Verdict { Regressed, Improved, Same, Unknown };
const char* verdictName(Verdict verdict);  // "regressed", "improved", "same", "unknown"

// Which way a metric gets better; None: any change counts against B (a behaviour change).
enum class Better { Lower, Higher, None };
const char* betterName(Better better);  // "lower", "higher", "none"

// The verdict of a timed metric: regressed when the adjusted p-value is below alpha AND the
// whole interval lies beyond the threshold on the worse side (ratio above 1 + t for lower-is-
// better, below 1 / (1 + t) for higher-is-better); improved, the mirror; same when the whole
// interval lies inside [1 / (1 + t), 1 + t]; unknown otherwise.
Verdict timedVerdict(double adjustedP, const RatioInterval& interval, double threshold,
                     Better better, double alpha);

// A tolerance for deterministic metrics: |b - a| <= absolute + relative * |a| counts as equal.
struct Tolerance {
  double absolute = 0;
  double relative = 0;
  bool within(double a, double b) const;
};

// A deterministic metric: same within the tolerance; otherwise regressed or improved by the
// direction (Better::None: regressed, since nothing explains the change).
Verdict exactVerdict(double a, double b, const Tolerance& tolerance, Better better);

// For an `unknown` timed verdict: about how many samples per side would decide it, from the
// interval's width (it shrinks as 1 / sqrt(n)) and, when the interval heads beyond the
// threshold, from the smallest p-value the exact test can reach after the adjustment for
// `familySize` metrics. nullopt when the ratio sits on the threshold (no sample size decides).
std::optional<int> samplesNeeded(int samplesNow, const RatioInterval& interval, double threshold,
                                 double alpha, int familySize);

}  // namespace moeprof::analysis
