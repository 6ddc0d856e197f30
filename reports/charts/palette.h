#pragma once
// Colours every chart uses: the Okabe-Ito palette for categories (distinguishable with the
// common colour-vision deficiencies), viridis and cividis for heatmaps (perceptually uniform,
// readable in grey), and one neutral grey for idle heatmap cells, outside both scales.
#include <string>

#include "reports/charts/chart.h"

namespace moeprof::charts {

inline constexpr int kCategoricalColours = 8;
inline constexpr const char* kIdleColour = "#d4d4d4";
inline constexpr const char* kMarkerColour = "#000000";
inline constexpr const char* kAxisColour = "#444444";
inline constexpr const char* kGridColour = "#e6e6e6";
inline constexpr const char* kMutedTextColour = "#555555";

// "#rrggbb" of category i (wraps around after kCategoricalColours): blue, orange, green,
// vermillion, reddish purple, sky blue, yellow, black.
std::string categoricalColour(int index);

// "#rrggbb" at position t in [0, 1] of the scale (clamped), interpolated between anchors.
std::string scaleColour(ColourScale scale, double t);

}  // namespace moeprof::charts
