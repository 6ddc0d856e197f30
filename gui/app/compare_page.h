#pragma once
// Two runs side by side with the verdicts of `moeprof compare` (analysis/statistical_comparison.h
// through reports/verdict_report.h): a sortable table, changed metrics coloured by verdict.
#include "gui/app/pages.h"
#include "gui/models/table_model.h"

class QComboBox;

namespace moeprof::gui {

class ReportTableView;

class ComparePage : public DashboardPage {
  Q_OBJECT
 public:
  explicit ComparePage(QWidget* parent = nullptr);
  void showRuns(const LoadedRuns& runs) override;
  QWidget& exportTarget() override;
  // Compares run directories a (baseline) and b; a message in the page when they cannot be.
  void compare(int a, int b);
  ReportTableModel& verdicts();
  QString summary() const;

 private:
  std::pair<int, int> defaultPair() const;
  std::vector<std::filesystem::path> runDirs_;
  QComboBox* pickA_ = nullptr;
  QComboBox* pickB_ = nullptr;
  QLabel* summary_ = nullptr;
  ReportTableView* verdicts_ = nullptr;
  QWidget* content_ = nullptr;
};

}  // namespace moeprof::gui
