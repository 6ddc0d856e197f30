#pragma once
// The dashboard's views. Each page shows one aspect of the loaded runs and names the widget
// that Export saves. Overview, Cache and Placement show the report's own charts (chosen by chart
// id) and tables; the heatmap, timeline and compare pages add interaction (heatmap_page.h,
// timeline_page.h, compare_page.h).
#include <QWidget>
#include <string>
#include <vector>

#include "gui/models/loaded_runs.h"
#include "gui/models/table_model.h"

class QLabel;
class QScrollArea;
class QSortFilterProxyModel;
class QTableView;
class QVBoxLayout;

namespace moeprof::gui {

class ChartWidget;

class DashboardPage : public QWidget {
  Q_OBJECT
 public:
  using QWidget::QWidget;
  virtual void showRuns(const LoadedRuns& runs) = 0;
  virtual QWidget& exportTarget() = 0;
};

// A column of report charts whose ids start with one of the prefixes, optionally under the
// first table of a report section (sortable), with a note when the runs have none of them.
class ChartListPage : public DashboardPage {
  Q_OBJECT
 public:
  ChartListPage(std::vector<std::string> chartPrefixes, std::string tableSection,
                QString emptyNote, QWidget* parent = nullptr);
  void showRuns(const LoadedRuns& runs) override;
  QWidget& exportTarget() override;
  const std::vector<ChartWidget*>& chartWidgets() const { return charts_; }
  QTableView* tableView() const { return tableView_; }
  ReportTableModel* tableModel() const { return tableModel_; }

 private:
  std::vector<std::string> prefixes_;
  std::string tableSection_;
  QString emptyNote_;
  QScrollArea* scroll_ = nullptr;
  QWidget* content_ = nullptr;
  QVBoxLayout* column_ = nullptr;
  QLabel* note_ = nullptr;
  QTableView* tableView_ = nullptr;
  ReportTableModel* tableModel_ = nullptr;
  QSortFilterProxyModel* sortModel_ = nullptr;
  std::vector<ChartWidget*> charts_;
};

}  // namespace moeprof::gui
