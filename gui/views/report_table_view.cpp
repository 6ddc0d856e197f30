#include "gui/views/report_table_view.h"

#include <QHeaderView>
#include <QLabel>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

namespace moeprof::gui {

ReportTableView::ReportTableView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  caption_ = new QLabel(this);
  QFont bold = caption_->font();
  bold.setBold(true);
  caption_->setFont(bold);
  auto* sorted = new QSortFilterProxyModel(this);
  sorted->setSourceModel(&model_);
  sorted->setSortRole(Qt::UserRole);
  view_ = new QTableView(this);
  view_->setModel(sorted);
  view_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);  // the report's order
  view_->setSortingEnabled(true);
  view_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  layout->addWidget(caption_);
  layout->addWidget(view_, 1);
}

void ReportTableView::setTable(const reports::Table& table, const QString& caption) {
  model_.setTable(table);
  caption_->setText(caption);
  caption_->setVisible(!caption.isEmpty());
  const int rows = int(std::min<size_t>(table.numRows(), 12));
  view_->setMinimumHeight(view_->horizontalHeader()->sizeHint().height() + 30 * rows + 8);
}

}  // namespace moeprof::gui
