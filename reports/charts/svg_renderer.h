#pragma once
// Draws a chart description (chart.h) as SVG: title, caption, axes with units, legend or
// colour bar, and a <title> on every mark so that hovering shows its exact value. Charts with
// more marks than fit grow wider instead of thinner (the page scrolls; nothing blurs).
#include <string>

#include "reports/charts/chart.h"

namespace moeprof::charts {

struct SvgOptions {
  int width = 760;       // the SVG is at least this wide
  int plotHeight = 260;  // bar and XY plots; heatmaps size their rows themselves
  // true: a file of its own (XML declaration, SVG namespace); false: for inline use in HTML,
  // where the namespace is implied and the markup references nothing at all.
  bool standalone = true;
};

std::string renderSvg(const Chart& chart, const SvgOptions& options = {});

}  // namespace moeprof::charts
