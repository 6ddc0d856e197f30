#include "gui/app/pages.h"

#include <QLabel>
#include <QScrollArea>
#include <QVBoxLayout>

#include "gui/views/chart_widget.h"
#include "gui/views/report_table_view.h"

namespace moeprof::gui {

ChartListPage::ChartListPage(std::vector<std::string> chartPrefixes, std::string tablePrefix,
                             QString emptyNote, QWidget* parent)
    : DashboardPage(parent),
      chartPrefixes_(std::move(chartPrefixes)),
      tablePrefix_(std::move(tablePrefix)),
      emptyNote_(std::move(emptyNote)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  content_ = new QWidget;
  content_->setAutoFillBackground(true);
  column_ = new QVBoxLayout(content_);
  note_ = new QLabel(content_);
  note_->setWordWrap(true);
  column_->addWidget(note_);
  column_->addStretch(1);
  scroll->setWidget(content_);
  layout->addWidget(scroll);
}

void ChartListPage::clear() {
  for (auto* table : tables_) delete table;
  for (auto* chart : charts_) delete chart;
  tables_.clear();
  charts_.clear();
}

void ChartListPage::showRuns(const LoadedRuns& runs) {
  clear();
  if (!tablePrefix_.empty()) {
    for (const auto& [title, table] : runs.sectionTables(tablePrefix_)) {
      auto* view = new ReportTableView(content_);
      view->setTable(*table, QString::fromStdString(title));
      column_->insertWidget(column_->count() - 1, view);
      tables_.push_back(view);
    }
  }
  for (const auto* chart : runs.chartsWithIdPrefix(chartPrefixes_)) addChart(*chart);
  setNote(charts_.empty() && tables_.empty() ? emptyNote_ : QString());
}

void ChartListPage::showCharts(const std::vector<charts::Chart>& charts, const QString& note) {
  clear();
  for (const auto& chart : charts) addChart(chart);
  setNote(note);
}

void ChartListPage::addChart(const charts::Chart& chart) {
  auto* widget = new ChartWidget(content_);
  widget->setChart(chart);
  column_->insertWidget(column_->count() - 1, widget);
  charts_.push_back(widget);
}

void ChartListPage::setNote(const QString& text) {
  note_->setText(text);
  note_->setVisible(!text.isEmpty());
}

QString ChartListPage::note() const {
  return note_->text();
}

QWidget& ChartListPage::exportTarget() {
  return *content_;
}

}  // namespace moeprof::gui
