#pragma once
// Mapping data values to positions along an axis (linear or log10), the round tick values an
// axis shows, and the compact number formatting of ticks and tooltips. Shared by every
// renderer, so the SVG and the GUI label axes alike.
#include <limits>
#include <string>
#include <vector>

#include "reports/charts/chart.h"

namespace moeprof::charts {

// A data range [low, high] mapped onto a pixel range [from, to] (to < from for a y axis).
class Scale {
 public:
  // A log scale needs low > 0; an empty range (low == high) is widened around its value.
  Scale(double low, double high, double from, double to, bool log);
  double operator()(double value) const;  // log scales clamp values <= 0 to the low end
  double low() const { return low_; }
  double high() const { return high_; }
  bool log() const { return log_; }

 private:
  double low_, high_, from_, to_;
  bool log_;
};

// A data range widened to round numbers and the ticks inside it.
struct Ticks {
  double low = 0;
  double high = 1;
  std::vector<double> values;
};

// Linear: steps of 1, 2 or 5 times a power of ten, at most about maxTicks of them, the range
// extended to whole steps. Log: the powers of ten covering [low, high] (low > 0), with 2 and 5
// between them when the range spans fewer than three decades.
Ticks niceTicks(double low, double high, int maxTicks, bool log);

// The range of the values added: finite ones, and on a log axis positive ones only.
struct Extent {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  void add(double value, bool log);
  bool empty() const { return !(low <= high); }
  // This range, or [0, 1] ([1, 10] on a log axis) when nothing was added.
  Extent orDefault(bool log) const;
};

// The ticks of an axis over [low, high]: niceTicks, the range including 0 on a linear axis when
// withZero, the axis' own min and max kept exactly.
Ticks axisTicks(const Axis& axis, double low, double high, bool withZero);

// A number for a label: `significant` significant digits, trailing zeros dropped, digits left
// of the point kept (1234567 -> "1234567"), or with a k/M/G/T suffix when compact
// (1234567 -> "1.235M"); magnitudes below 0.001 in exponent notation. NaN -> "n/a".
std::string formatValue(double value, int significant = 4, bool compact = false);

}  // namespace moeprof::charts
