#pragma once
// The expert heatmap: layer x expert tokens of one run, pass by pass (slider, play), a run
// picker (in a reproduce directory the routing groups' runs are the LM domains and MT
// languages), linear or log colour scale, zoom for E = 512, hover for exact numbers, and a click
// on an expert shows its load over the passes through that layer.
#include <optional>
#include <vector>

#include "gui/app/pages.h"
#include "gui/models/heatmap_model.h"

class QCheckBox;
class QComboBox;
class QPushButton;
class QSlider;
class QTimer;

namespace moeprof::gui {

class HeatmapPage : public DashboardPage {
  Q_OBJECT
 public:
  explicit HeatmapPage(QWidget* parent = nullptr);
  void showRuns(const LoadedRuns& runs) override;
  QWidget& exportTarget() override;
  // Restricts the passes to those of a time range (nullopt: all passes).
  void setPassFilter(const std::optional<std::vector<Pass>>& passes);
  void selectRun(int index);
  void setLogScale(bool on);
  void showExpertLoad(int layer, int expert);

  ExpertHeatmapModel& model() { return model_; }
  ChartWidget& heatmap() { return *heatmap_; }
  ChartWidget& expertLoad() { return *expertLoad_; }

 private:
  void refresh();
  QWidget* buildControls();

  ExpertHeatmapModel model_;
  const LoadedRuns* runs_ = nullptr;
  QComboBox* runPicker_ = nullptr;
  QSlider* passSlider_ = nullptr;
  QLabel* passLabel_ = nullptr;
  QPushButton* play_ = nullptr;
  QCheckBox* logScale_ = nullptr;
  QTimer* playTimer_ = nullptr;
  QWidget* content_ = nullptr;
  ChartWidget* heatmap_ = nullptr;
  ChartWidget* expertLoad_ = nullptr;
};

}  // namespace moeprof::gui
