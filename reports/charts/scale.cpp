#include "reports/charts/scale.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace moeprof::charts {

Scale::Scale(double low, double high, double from, double to, bool log)
    : low_(low), high_(high), from_(from), to_(to), log_(log) {
  if (log_) {
    low_ = std::log10(low_ > 0 ? low_ : 1e-12);
    high_ = std::log10(high_ > 0 ? high_ : 1e-12);
  }
  if (!(high_ > low_)) {  // empty or inverted: one value in the middle
    low_ -= 0.5;
    high_ = low_ + 1.0;
  }
}

double Scale::operator()(double value) const {
  double v = value;
  if (log_) v = value > 0 ? std::log10(value) : low_;
  return from_ + (v - low_) / (high_ - low_) * (to_ - from_);
}

namespace {

Ticks logTicks(double low, double high) {
  low = low > 0 ? low : 1e-12;
  high = std::max(high, low);
  const int first = static_cast<int>(std::floor(std::log10(low) + 1e-9));
  const int last = std::max(first + 1, static_cast<int>(std::ceil(std::log10(high) - 1e-9)));
  Ticks ticks{std::pow(10.0, first), std::pow(10.0, last), {}};
  const bool fine = last - first < 3;
  for (int e = first; e <= last; ++e) {
    const double decade = std::pow(10.0, e);
    ticks.values.push_back(decade);
    if (fine && e < last) {
      ticks.values.push_back(2 * decade);
      ticks.values.push_back(5 * decade);
    }
  }
  return ticks;
}

}  // namespace

Ticks niceTicks(double low, double high, int maxTicks, bool log) {
  if (log) return logTicks(low, high);
  if (!std::isfinite(low) || !std::isfinite(high)) low = 0, high = 1;
  if (high < low) std::swap(low, high);
  if (high == low) {
    const double pad = low == 0 ? 1.0 : std::abs(low) * 0.5;
    if (low >= 0 && low - pad < 0) {
      high = low + pad;
      low = 0;
    } else {
      low -= pad;
      high += pad;
    }
  }
  const double raw = (high - low) / std::max(1, maxTicks - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  Ticks ticks;
  ticks.low = std::floor(low / step + 1e-9) * step;
  ticks.high = std::ceil(high / step - 1e-9) * step;
  for (double v = ticks.low; v <= ticks.high + step * 1e-6; v += step) {
    ticks.values.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  }
  return ticks;
}

std::string formatValue(double value, int significant, bool compact) {
  if (std::isnan(value)) return "n/a";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  significant = std::max(1, significant);
  const char* suffix = "";
  if (compact) {
    const std::pair<double, const char*> units[] = {
        {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
    for (const auto& [scale, name] : units) {
      if (std::abs(value) >= scale) {
        value /= scale;
        suffix = name;
        break;
      }
    }
  }
  char buffer[64];
  if (value != 0 && std::abs(value) < 1e-3) {
    std::snprintf(buffer, sizeof(buffer), "%.*e", significant - 1, value);
    return buffer;
  }
  const int digitsLeft =
      value == 0 ? 1 : static_cast<int>(std::floor(std::log10(std::abs(value)))) + 1;
  const int decimals = std::clamp(significant - digitsLeft, 0, 15);
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  std::string text = buffer;
  if (text.find('.') != std::string::npos) {
    text.erase(text.find_last_not_of('0') + 1);
    if (text.back() == '.') text.pop_back();
  }
  if (text == "-0") text = "0";
  return text + suffix;
}

void Extent::add(double value, bool log) {
  if (!std::isfinite(value) || (log && value <= 0)) return;
  low = std::min(low, value);
  high = std::max(high, value);
}

Extent Extent::orDefault(bool log) const {
  if (!empty()) return *this;
  return log ? Extent{1, 10} : Extent{0, 1};
}

Ticks axisTicks(const Axis& axis, double low, double high, bool withZero) {
  if (axis.logScale) {
    if (!(low > 0)) low = high > 0 ? high / 10 : 1;
  } else if (withZero) {
    low = std::min(low, 0.0);
    high = std::max(high, 0.0);
  }
  if (axis.min) low = *axis.min;
  if (axis.max) high = *axis.max;
  Ticks ticks = niceTicks(low, high, 6, axis.logScale);
  if (axis.min) ticks.low = *axis.min;
  if (axis.max) ticks.high = *axis.max;
  std::erase_if(ticks.values, [&](double v) {
    return v < ticks.low - 1e-9 * std::abs(ticks.high - ticks.low) ||
           v > ticks.high + 1e-9 * std::abs(ticks.high - ticks.low);
  });
  return ticks;
}

}  // namespace moeprof::charts
