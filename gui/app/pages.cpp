#include "gui/app/pages.h"

#include <QHeaderView>
#include <QLabel>
#include <QScrollArea>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

#include "gui/views/chart_widget.h"

namespace moeprof::gui {

ChartListPage::ChartListPage(std::vector<std::string> chartPrefixes, std::string tableSection,
                             QString emptyNote, QWidget* parent)
    : DashboardPage(parent),
      prefixes_(std::move(chartPrefixes)),
      tableSection_(std::move(tableSection)),
      emptyNote_(std::move(emptyNote)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  scroll_ = new QScrollArea(this);
  scroll_->setWidgetResizable(true);
  content_ = new QWidget;
  content_->setAutoFillBackground(true);
  column_ = new QVBoxLayout(content_);
  note_ = new QLabel(content_);
  note_->setWordWrap(true);
  column_->addWidget(note_);
  if (!tableSection_.empty()) {
    tableModel_ = new ReportTableModel(this);
    sortModel_ = new QSortFilterProxyModel(this);
    sortModel_->setSourceModel(tableModel_);
    sortModel_->setSortRole(Qt::UserRole);
    tableView_ = new QTableView(content_);
    tableView_->setModel(sortModel_);
    tableView_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
    tableView_->setSortingEnabled(true);
    tableView_->setMinimumHeight(260);
    tableView_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    column_->addWidget(tableView_);
  }
  column_->addStretch(1);
  scroll_->setWidget(content_);
  layout->addWidget(scroll_);
}

void ChartListPage::showRuns(const LoadedRuns& runs) {
  for (auto* chart : charts_) delete chart;
  charts_.clear();
  for (const auto* chart : runs.chartsWithIdPrefix(prefixes_)) {
    auto* widget = new ChartWidget(content_);
    widget->setChart(*chart);
    column_->insertWidget(column_->count() - 1, widget);
    charts_.push_back(widget);
  }
  const reports::Table* table = tableSection_.empty() ? nullptr : runs.sectionTable(tableSection_);
  if (tableModel_) {
    tableModel_->setTable(table ? *table : reports::Table({}));
    tableView_->setVisible(table != nullptr);
  }
  note_->setText(charts_.empty() && !table ? emptyNote_ : QString());
  note_->setVisible(!note_->text().isEmpty());
}

QWidget& ChartListPage::exportTarget() { return *content_; }

}  // namespace moeprof::gui
