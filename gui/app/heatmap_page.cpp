#include "gui/app/heatmap_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QSlider>
#include <QTimer>
#include <QVBoxLayout>

#include "gui/views/chart_widget.h"

namespace moeprof::gui {

HeatmapPage::HeatmapPage(QWidget* parent) : DashboardPage(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(buildControls());
  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  content_ = new QWidget;
  content_->setAutoFillBackground(true);
  auto* column = new QVBoxLayout(content_);
  heatmap_ = new ChartWidget(content_);
  expertLoad_ = new ChartWidget(content_);
  expertLoad_->setVisible(false);
  column->addWidget(heatmap_);
  column->addWidget(expertLoad_);
  column->addStretch(1);
  scroll->setWidget(content_);
  layout->addWidget(scroll, 1);
  connect(&model_, &ExpertHeatmapModel::passChanged, this, [this](int index) {
    passSlider_->blockSignals(true);
    passSlider_->setMaximum(std::max(0, int(model_.passes().size()) - 1));
    passSlider_->setValue(index);
    passSlider_->blockSignals(false);
    refresh();
  });
  connect(heatmap_, &ChartWidget::markClicked, this, &HeatmapPage::showExpertLoad);
}

QWidget* HeatmapPage::buildControls() {
  auto* bar = new QWidget(this);
  auto* row = new QHBoxLayout(bar);
  runPicker_ = new QComboBox(bar);
  runPicker_->setMinimumContentsLength(28);
  passSlider_ = new QSlider(Qt::Horizontal, bar);
  play_ = new QPushButton(tr("Play"), bar);
  play_->setCheckable(true);
  logScale_ = new QCheckBox(tr("Log colour scale"), bar);
  auto* zoomIn = new QPushButton(tr("Zoom +"), bar);
  auto* zoomFit = new QPushButton(tr("Fit"), bar);
  playTimer_ = new QTimer(this);
  playTimer_->setInterval(120);
  row->addWidget(new QLabel(tr("Run:"), bar));
  row->addWidget(runPicker_);
  row->addWidget(new QLabel(tr("Pass:"), bar));
  row->addWidget(passSlider_, 1);
  passLabel_ = new QLabel(bar);
  passLabel_->setMinimumWidth(170);
  row->addWidget(passLabel_);
  for (QWidget* w : std::initializer_list<QWidget*>{play_, logScale_, zoomIn, zoomFit})
    row->addWidget(w);
  connect(runPicker_, &QComboBox::currentIndexChanged, this, &HeatmapPage::selectRun);
  connect(passSlider_, &QSlider::valueChanged, &model_, &ExpertHeatmapModel::setPassIndex);
  connect(logScale_, &QCheckBox::toggled, this, &HeatmapPage::refresh);
  connect(play_, &QPushButton::toggled, this,
          [this](bool on) { on ? playTimer_->start() : playTimer_->stop(); });
  connect(playTimer_, &QTimer::timeout, this, [this] {
    const int passes = int(model_.passes().size());
    if (passes > 0) model_.setPassIndex((model_.passIndex() + 1) % passes);
  });
  connect(zoomIn, &QPushButton::clicked, this, [this] {
    const double now = heatmap_->cellWidth() > 0 ? heatmap_->cellWidth() : 4;
    heatmap_->setCellWidth(now * 1.5);
  });
  connect(zoomFit, &QPushButton::clicked, this, [this] { heatmap_->setCellWidth(0); });
  return bar;
}

void HeatmapPage::showRuns(const LoadedRuns& runs) {
  runs_ = &runs;
  runPicker_->blockSignals(true);
  runPicker_->clear();
  for (const auto& routing : runs.routings)
    runPicker_->addItem(QString::fromStdString(routing.run));
  runPicker_->blockSignals(false);
  selectRun(0);
}

void HeatmapPage::selectRun(int index) {
  const bool valid = runs_ && index >= 0 && size_t(index) < runs_->routings.size();
  if (valid && runPicker_->currentIndex() != index) runPicker_->setCurrentIndex(index);
  model_.setLoads(valid ? &runs_->routings[size_t(index)].loads : nullptr,
                  valid ? runs_->routings[size_t(index)].run : std::string());
  expertLoad_->setVisible(false);
  passSlider_->setMaximum(std::max(0, int(model_.passes().size()) - 1));
  passSlider_->setValue(0);
  refresh();
}

void HeatmapPage::setPassFilter(const std::optional<std::vector<Pass>>& passes) {
  model_.setPassFilter(passes);
}

void HeatmapPage::setLogScale(bool on) {
  logScale_->setChecked(on);
}

void HeatmapPage::refresh() {
  const auto& passes = model_.passes();
  const int index = model_.passIndex();
  passLabel_->setText(passes.empty() ? tr("no pass")
                                     : tr("%1 / %2: batch %3, step %4")
                                           .arg(index + 1)
                                           .arg(passes.size())
                                           .arg(passes[size_t(index)].first)
                                           .arg(passes[size_t(index)].second));
  heatmap_->setChart(model_.passChart(logScale_->isChecked()));
}

void HeatmapPage::showExpertLoad(int layer, int expert) {
  if (layer < 0 || expert < 0) return;
  expertLoad_->setChart(model_.expertLoadChart(layer, expert));
  expertLoad_->setVisible(true);
}

QWidget& HeatmapPage::exportTarget() {
  return *content_;
}

}  // namespace moeprof::gui
