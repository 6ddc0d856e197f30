#include "analysis/device_loads.h"

#include <algorithm>

#include "collector/errors.h"

namespace moeprof::analysis {

DeviceLoads deviceLoads(const RoutingLoads& loads, const PlacementSpec& spec, int devices,
                        collector::LayerStack stack) {
  DeviceLoads out;
  out.placement = spec.name();
  out.devices = devices;
  out.stack = stack;
  out.tokens.assign(static_cast<size_t>(std::max(devices, 0)), 0.0);
  for (const LayerLoads& layer : loads.layers) {
    if (layer.layer.stack != stack) continue;
    const TraceSplit split = splitTrace(layer.tokens);
    const LoadMetrics metrics =
        loadMetrics(split.evaluation, choosePlacement(spec, split.history, devices));
    for (const auto& row : metrics.deviceTokens) {
      for (size_t d = 0; d < row.size() && d < out.tokens.size(); ++d) out.tokens[d] += row[d];
    }
    out.meanPerPassMaxLoad += metrics.perPassMaxLoad;
    out.meanPerPassAvgMaxLoad += metrics.perPassAvgMaxLoad;
    out.meanPooledMaxLoad += metrics.pooledMaxLoad;
    ++out.layers;
  }
  if (out.layers == 0) {
    throw InputError(std::string("the routing log has no ") + collector::layerStackName(stack) +
                     " layer");
  }
  out.meanPerPassMaxLoad /= out.layers;
  out.meanPerPassAvgMaxLoad /= out.layers;
  out.meanPooledMaxLoad /= out.layers;
  return out;
}

}  // namespace moeprof::analysis
