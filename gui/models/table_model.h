#pragma once
// A report table (reports/table.h: the reproduce table, a comparison's verdicts) as a Qt table
// model. Qt::UserRole holds a sort key: the cell's leading number ("6.21x" -> 6.21) when it has
// one, else its text, so a QSortFilterProxyModel sorts numeric columns by value. Cells naming a
// verdict carry a background colour.
#include <QAbstractTableModel>

#include "reports/table.h"

namespace moeprof::gui {

class ReportTableModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  explicit ReportTableModel(QObject* parent = nullptr);
  void setTable(const reports::Table& table);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  reports::Table table_{{}};
};

}  // namespace moeprof::gui
