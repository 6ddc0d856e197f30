#pragma once
// A report table (gui/models/table_model.h) under its caption, sortable by any column (numbers
// by value, through the model's sort key), verdict cells coloured. The overview, the cache view
// and the compare view show their tables with it.
#include <QWidget>

#include "gui/models/table_model.h"

class QLabel;
class QTableView;

namespace moeprof::gui {

class ReportTableView : public QWidget {
  Q_OBJECT
 public:
  explicit ReportTableView(QWidget* parent = nullptr);
  void setTable(const reports::Table& table, const QString& caption = {});
  ReportTableModel& model() { return model_; }
  QTableView& view() { return *view_; }

 private:
  ReportTableModel model_;
  QLabel* caption_ = nullptr;
  QTableView* view_ = nullptr;
};

}  // namespace moeprof::gui
