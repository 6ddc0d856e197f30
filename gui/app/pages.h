#pragma once
// The dashboard's views. Each page shows one aspect of the loaded runs and names the widget
// that Export saves. Overview, Cache and Placement show the report's own tables and charts
// (chosen by section title and chart id); the heatmap, timeline and compare pages add
// interaction (heatmap_page.h, timeline_page.h, compare_page.h).
#include <QWidget>
#include <string>
#include <vector>

#include "gui/models/loaded_runs.h"

class QLabel;
class QVBoxLayout;

namespace moeprof::gui {

class ChartWidget;
class ReportTableView;

class DashboardPage : public QWidget {
  Q_OBJECT
 public:
  using QWidget::QWidget;
  virtual void showRuns(const LoadedRuns& runs) = 0;
  virtual QWidget& exportTarget() = 0;
};

// A column of the report's tables (the first of each section whose title starts with
// tablePrefix; none when it is empty) and charts (ids starting with one of chartPrefixes), with
// a note when the runs have none of them.
class ChartListPage : public DashboardPage {
  Q_OBJECT
 public:
  ChartListPage(std::vector<std::string> chartPrefixes, std::string tablePrefix, QString emptyNote,
                QWidget* parent = nullptr);
  void showRuns(const LoadedRuns& runs) override;
  // Shows `charts` instead of the document's (a time range's passes), `note` above them.
  void showCharts(const std::vector<charts::Chart>& charts, const QString& note);
  QWidget& exportTarget() override;
  const std::vector<ChartWidget*>& chartWidgets() const { return charts_; }
  QString note() const;  // the line above the charts
  const std::vector<ReportTableView*>& tableViews() const { return tables_; }

 private:
  void clear();
  void addChart(const charts::Chart& chart);
  void setNote(const QString& text);

  std::vector<std::string> chartPrefixes_;
  std::string tablePrefix_;
  QString emptyNote_;
  QWidget* content_ = nullptr;
  QVBoxLayout* column_ = nullptr;
  QLabel* note_ = nullptr;
  std::vector<ReportTableView*> tables_;
  std::vector<ChartWidget*> charts_;
};

}  // namespace moeprof::gui
