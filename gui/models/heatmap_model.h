#pragma once
// The expert heatmap of one run as a table model: rows are MoE layers, columns experts, a cell
// the tokens routed to the expert in the current forward pass (batch, step), as
// analysis::routingLoads recorded them. A decoder layer has one pass per step; a layer without
// the current pass (an encoder layer at step 3) has empty cells. A time range chosen on the
// timeline restricts the passes the model steps through (setPassFilter).
#include <QAbstractTableModel>
#include <optional>
#include <utility>
#include <vector>

#include "analysis/routing_loads.h"
#include "reports/charts/chart.h"

namespace moeprof::gui {

using Pass = std::pair<uint32_t, uint32_t>;  // (batch, step)

class ExpertHeatmapModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  explicit ExpertHeatmapModel(QObject* parent = nullptr);
  // `loads` must outlive the model (or the next setLoads).
  void setLoads(const analysis::RoutingLoads* loads, const std::string& run);
  // Only these passes (when given): the passes of a time range. Empty optional: all passes.
  void setPassFilter(const std::optional<std::vector<Pass>>& passes);
  void setPassIndex(int index);  // into passes()
  const std::vector<Pass>& passes() const { return visiblePasses_; }
  int passIndex() const { return passIndex_; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

  // The current pass as a heatmap chart description (tokens, idle experts distinct).
  charts::Chart passChart(bool logScale) const;
  // One expert's tokens in every pass through `layer` (a line over the pass index).
  charts::Chart expertLoadChart(int layer, int expert) const;

 Q_SIGNALS:
  void passChanged(int index);

 private:
  std::optional<double> tokens(int layer, int expert) const;
  void indexPasses();

  const analysis::RoutingLoads* loads_ = nullptr;
  std::string run_{};
  std::vector<Pass> allPasses_{};
  std::vector<std::vector<int>> rowOf_{};  // [layer][pass index in allPasses_] -> row or -1
  std::vector<Pass> visiblePasses_{};
  std::vector<int> visibleToAll_{};
  int passIndex_ = 0;
};

}  // namespace moeprof::gui
