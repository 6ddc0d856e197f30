#include "gui/models/heatmap_model.h"

#include <algorithm>
#include <map>
#include <set>

#include "collector/routing_log.h"

namespace moeprof::gui {

namespace {

std::string layerName(const analysis::LayerLoads& layer, size_t index) {
  return "L" + std::to_string(index) + " " + collector::layerStackName(layer.layer.stack);
}

std::string passName(const Pass& pass) {
  return "batch " + std::to_string(pass.first) + " step " + std::to_string(pass.second);
}

}  // namespace

ExpertHeatmapModel::ExpertHeatmapModel(QObject* parent) : QAbstractTableModel(parent) {}

void ExpertHeatmapModel::setLoads(const analysis::RoutingLoads* loads, const std::string& run) {
  beginResetModel();
  loads_ = loads;
  run_ = run;
  indexPasses();
  visiblePasses_ = allPasses_;
  visibleToAll_.resize(allPasses_.size());
  for (size_t i = 0; i < visibleToAll_.size(); ++i) visibleToAll_[i] = int(i);
  passIndex_ = 0;
  endResetModel();
}

void ExpertHeatmapModel::indexPasses() {
  static const std::vector<analysis::LayerLoads> kNoLayers;
  const std::vector<analysis::LayerLoads>& layers = loads_ ? loads_->layers : kNoLayers;
  std::set<Pass> unique;
  for (const auto& layer : layers) unique.insert(layer.rows.begin(), layer.rows.end());
  allPasses_.assign(unique.begin(), unique.end());
  std::map<Pass, int> passIndex;
  for (size_t i = 0; i < allPasses_.size(); ++i) passIndex[allPasses_[i]] = int(i);
  rowOf_.assign(layers.size(), std::vector<int>(allPasses_.size(), -1));
  for (size_t l = 0; l < layers.size(); ++l) {
    for (size_t r = 0; r < layers[l].rows.size(); ++r) {
      rowOf_[l][size_t(passIndex[layers[l].rows[r]])] = int(r);
    }
  }
}

void ExpertHeatmapModel::setPassFilter(const std::optional<std::vector<Pass>>& passes) {
  beginResetModel();
  visiblePasses_.clear();
  visibleToAll_.clear();
  for (size_t i = 0; i < allPasses_.size(); ++i) {
    if (passes && std::find(passes->begin(), passes->end(), allPasses_[i]) == passes->end())
      continue;
    visiblePasses_.push_back(allPasses_[i]);
    visibleToAll_.push_back(int(i));
  }
  passIndex_ = 0;
  endResetModel();
  Q_EMIT passChanged(passIndex_);
}

void ExpertHeatmapModel::setPassIndex(int index) {
  if (visiblePasses_.empty()) return;
  index = std::clamp(index, 0, int(visiblePasses_.size()) - 1);
  if (index == passIndex_) return;
  passIndex_ = index;
  Q_EMIT dataChanged(this->index(0, 0), this->index(rowCount() - 1, columnCount() - 1));
  Q_EMIT passChanged(passIndex_);
}

int ExpertHeatmapModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() || !loads_ ? 0 : int(loads_->layers.size());
}

int ExpertHeatmapModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() || !loads_ ? 0 : int(loads_->numExperts);
}

std::optional<double> ExpertHeatmapModel::tokens(int layer, int expert) const {
  if (visiblePasses_.empty()) return std::nullopt;
  const int row = rowOf_[size_t(layer)][size_t(visibleToAll_[size_t(passIndex_)])];
  if (row < 0) return std::nullopt;
  return loads_->layers[size_t(layer)].tokens[size_t(row)][size_t(expert)];
}

QVariant ExpertHeatmapModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
  const auto value = tokens(index.row(), index.column());
  if (!value) return {};
  if (role == Qt::DisplayRole || role == Qt::UserRole) return *value;
  if (role == Qt::ToolTipRole) {
    return QStringLiteral("layer %1 · expert %2: %3 tokens%4")
        .arg(index.row())
        .arg(index.column())
        .arg(*value)
        .arg(*value == 0 ? QStringLiteral(" (idle)") : QString());
  }
  return {};
}

QVariant ExpertHeatmapModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (role != Qt::DisplayRole || !loads_ || section < 0) return {};
  if (orientation == Qt::Horizontal) return QStringLiteral("E%1").arg(section);
  if (size_t(section) >= loads_->layers.size()) return {};
  return QString::fromStdString(layerName(loads_->layers[size_t(section)], size_t(section)));
}

charts::Chart ExpertHeatmapModel::passChart(bool logScale) const {
  charts::Chart chart;
  chart.kind = charts::ChartKind::Heatmap;
  chart.id = "expert-heatmap";
  const std::string pass =
      visiblePasses_.empty() ? "no pass" : passName(visiblePasses_[size_t(passIndex_)]);
  chart.title = "Tokens per expert, " + pass + " (" + run_ + ")";
  chart.x.label = "expert";
  chart.y.label = "MoE layer";
  auto& h = chart.heatmap;
  h.rows = size_t(rowCount());
  h.columns = size_t(columnCount());
  h.values.resize(h.rows * h.columns, 0);
  h.valueLabel = "tokens";
  h.logScale = logScale;
  for (size_t r = 0; r < h.rows; ++r) {
    chart.y.categories.push_back(
        headerData(int(r), Qt::Vertical, Qt::DisplayRole).toString().toStdString());
    for (size_t c = 0; c < h.columns; ++c) {
      h.values[r * h.columns + c] = tokens(int(r), int(c)).value_or(0);
    }
  }
  for (size_t c = 0; c < h.columns; ++c) chart.x.categories.push_back(std::to_string(c));
  return chart;
}

charts::Chart ExpertHeatmapModel::expertLoadChart(int layer, int expert) const {
  charts::Chart chart;
  chart.kind = charts::ChartKind::Xy;
  chart.id = "expert-load";
  chart.title = "Expert " + std::to_string(expert) + " of layer " + std::to_string(layer) +
                ": tokens per pass";
  chart.x.label = "pass through the layer";
  chart.y.label = "tokens";
  charts::Series series{"expert " + std::to_string(expert), charts::SeriesStyle::Line, {}};
  if (loads_ && size_t(layer) < loads_->layers.size()) {
    const auto& l = loads_->layers[size_t(layer)];
    for (size_t r = 0; r < l.rows.size(); ++r) {
      series.data.push_back({double(r), l.tokens[r][size_t(expert)], {}, passName(l.rows[r])});
    }
  }
  chart.series.push_back(std::move(series));
  return chart;
}

}  // namespace moeprof::gui
