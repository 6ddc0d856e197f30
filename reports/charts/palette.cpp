#include "reports/charts/palette.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <span>

namespace moeprof::charts {

namespace {

struct Rgb {
  int r, g, b;
};

// Okabe & Ito (2008), "Color Universal Design"; yellow late because it is faint on white.
constexpr std::array<Rgb, kCategoricalColours> kOkabeIto = {{
    {0x00, 0x72, 0xB2},  // blue
    {0xE6, 0x9F, 0x00},  // orange
    {0x00, 0x9E, 0x73},  // bluish green
    {0xD5, 0x5E, 0x00},  // vermillion
    {0xCC, 0x79, 0xA7},  // reddish purple
    {0x56, 0xB4, 0xE9},  // sky blue
    {0xF0, 0xE4, 0x42},  // yellow
    {0x00, 0x00, 0x00},  // black
}};

// matplotlib's viridis at t = 0, 0.1, ..., 1.
constexpr std::array<Rgb, 11> kViridis = {{
    {0x44, 0x01, 0x54},
    {0x48, 0x24, 0x75},
    {0x41, 0x44, 0x87},
    {0x35, 0x5f, 0x8d},
    {0x2a, 0x78, 0x8e},
    {0x21, 0x91, 0x8c},
    {0x22, 0xa8, 0x84},
    {0x44, 0xbf, 0x70},
    {0x7a, 0xd1, 0x51},
    {0xbd, 0xdf, 0x26},
    {0xfd, 0xe7, 0x25},
}};

// cividis (Nuñez et al. 2018) at t = 0, 0.25, ..., 1.
constexpr std::array<Rgb, 5> kCividis = {{
    {0x00, 0x22, 0x4e},
    {0x41, 0x4d, 0x6b},
    {0x7c, 0x7b, 0x78},
    {0xbc, 0xaf, 0x6f},
    {0xfe, 0xe8, 0x38},
}};

std::string hex(const Rgb& c) {
  char buffer[8];
  std::snprintf(buffer, sizeof(buffer), "#%02x%02x%02x", c.r, c.g, c.b);
  return buffer;
}

std::string interpolate(std::span<const Rgb> anchors, double t) {
  if (!(t >= 0)) t = 0;  // NaN too
  t = std::min(t, 1.0);
  const double position = t * static_cast<double>(anchors.size() - 1);
  const size_t low = std::min(static_cast<size_t>(position), anchors.size() - 2);
  const double f = position - static_cast<double>(low);
  auto mix = [&](int a, int b) { return static_cast<int>(std::lround(a + (b - a) * f)); };
  const Rgb& a = anchors[low];
  const Rgb& b = anchors[low + 1];
  return hex({mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b)});
}

}  // namespace

std::string categoricalColour(int index) {
  const int n = kCategoricalColours;
  return hex(kOkabeIto[static_cast<size_t>(((index % n) + n) % n)]);
}

std::string scaleColour(ColourScale scale, double t) {
  return scale == ColourScale::Cividis ? interpolate(kCividis, t) : interpolate(kViridis, t);
}

}  // namespace moeprof::charts
