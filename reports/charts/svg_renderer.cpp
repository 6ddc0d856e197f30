#include "reports/charts/svg_renderer.h"

#include "reports/charts/svg_parts.h"

namespace moeprof::charts {

std::string renderSvg(const Chart& chart, const SvgOptions& options) {
  switch (chart.kind) {
    case ChartKind::Bars:
      return svg::renderBars(chart, options);
    case ChartKind::Xy:
      return svg::renderXy(chart, options);
    case ChartKind::Heatmap:
      return svg::renderHeatmap(chart, options);
  }
  return {};
}

}  // namespace moeprof::charts
