#include "gui/app/compare_page.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

#include "analysis/statistical_comparison.h"
#include "gui/views/report_table_view.h"
#include "reports/verdict_report.h"

namespace moeprof::gui {

ComparePage::ComparePage(QWidget* parent) : DashboardPage(parent) {
  content_ = this;
  auto* layout = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  pickA_ = new QComboBox(this);
  pickB_ = new QComboBox(this);
  auto* go = new QPushButton(tr("Compare"), this);
  row->addWidget(new QLabel(tr("A (baseline):"), this));
  row->addWidget(pickA_, 1);
  row->addWidget(new QLabel(tr("B:"), this));
  row->addWidget(pickB_, 1);
  row->addWidget(go);
  layout->addLayout(row);
  summary_ = new QLabel(this);
  summary_->setWordWrap(true);
  layout->addWidget(summary_);
  verdicts_ = new ReportTableView(this);
  layout->addWidget(verdicts_, 1);
  connect(go, &QPushButton::clicked, this,
          [this] { compare(pickA_->currentIndex(), pickB_->currentIndex()); });
}

void ComparePage::showRuns(const LoadedRuns& runs) {
  runDirs_ = runs.runDirs;
  for (QComboBox* pick : {pickA_, pickB_}) {
    pick->clear();
    for (const auto& dir : runDirs_) pick->addItem(QString::fromStdString(dir.filename().string()));
  }
  verdicts_->setTable(reports::Table({}));
  if (runDirs_.size() < 2) {
    summary_->setText(tr("Open two runs (or a sweep) to compare them."));
    return;
  }
  const auto [a, b] = defaultPair();
  pickA_->setCurrentIndex(a);
  pickB_->setCurrentIndex(b);
  compare(a, b);
}

std::pair<int, int> ComparePage::defaultPair() const {
  // A static run and its dynamic twin ("lm-tiny-static-b8", "lm-tiny-dynamic-b8"): the
  // comparison the paper makes; otherwise the first two runs.
  for (size_t a = 0; a < runDirs_.size(); ++a) {
    std::string twin = runDirs_[a].filename().string();
    const auto at = twin.find("-static-");
    if (at == std::string::npos) continue;
    twin.replace(at, 8, "-dynamic-");
    for (size_t b = 0; b < runDirs_.size(); ++b) {
      if (runDirs_[b].filename() == twin) return {int(a), int(b)};
    }
  }
  return {0, 1};
}

void ComparePage::compare(int a, int b) {
  if (a < 0 || b < 0 || size_t(a) >= runDirs_.size() || size_t(b) >= runDirs_.size()) return;
  try {
    const auto comparison = analysis::compareSets(analysis::loadComparable(runDirs_[size_t(a)]),
                                                  analysis::loadComparable(runDirs_[size_t(b)]),
                                                  analysis::shippedComparisonRules());
    verdicts_->setTable(reports::verdictTable(comparison));
    QString text = tr("%1 regressed, %2 improved, %3 same, %4 unknown (Holm-adjusted, alpha %5).")
                       .arg(comparison.count(analysis::Verdict::Regressed))
                       .arg(comparison.count(analysis::Verdict::Improved))
                       .arg(comparison.count(analysis::Verdict::Same))
                       .arg(comparison.count(analysis::Verdict::Unknown))
                       .arg(comparison.alpha);
    for (const auto& line : comparison.workloadDifferences()) {
      text += QStringLiteral("\nDifferent workloads: ") + QString::fromStdString(line);
    }
    summary_->setText(text);
  } catch (const std::exception& e) {
    verdicts_->setTable(reports::Table({}));
    summary_->setText(tr("Cannot compare: %1").arg(QString::fromUtf8(e.what())));
  }
}

ReportTableModel& ComparePage::verdicts() {
  return verdicts_->model();
}

QString ComparePage::summary() const {
  return summary_->text();
}

QWidget& ComparePage::exportTarget() {
  return *content_;
}

}  // namespace moeprof::gui
