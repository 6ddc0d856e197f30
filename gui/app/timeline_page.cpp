#include "gui/app/timeline_page.h"

#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include "gui/views/timeline_widget.h"

namespace moeprof::gui {

TimelinePage::TimelinePage(QWidget* parent) : DashboardPage(parent) {
  auto* layout = new QVBoxLayout(this);
  status_ = new QLabel(this);
  status_->setWordWrap(true);
  layout->addWidget(status_);
  auto* split = new QSplitter(Qt::Vertical, this);
  timeline_ = new TimelineWidget(split);
  auto* list = new QTableView(split);
  list->setModel(&tracks_);
  list->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  split->addWidget(timeline_);
  split->addWidget(list);
  split->setStretchFactor(0, 4);
  split->setStretchFactor(1, 1);
  layout->addWidget(split, 1);
  connect(timeline_, &TimelineWidget::rangeSelected, this, &TimelinePage::selectRange);
}

void TimelinePage::showRuns(const LoadedRuns& runs) {
  runs_ = &runs;
  const TimelineData* data = runs.timeline ? &*runs.timeline : nullptr;
  timeline_->setTimeline(data);
  tracks_.setTimeline(data);
  status_->setText(data ? tr("%1 events in %2 tracks. Wheel or +/- zooms, drag or arrows pan, "
                             "0 shows all, Shift+drag selects a time range.")
                              .arg(data->eventCount)
                              .arg(data->tracks.size())
                        : tr("No trace in what was opened (record with --trace ops or full)."));
}

void TimelinePage::selectRange(qint64 fromNs, qint64 toNs) {
  if (!runs_ || !runs_->timeline) return;
  tracks_.setRange(fromNs, toNs);
  const auto passes = passesInRange(*runs_->timeline, fromNs, toNs);
  const QString text = tr("Selected %1 ms: %2 forward passes routed inside it.")
                           .arg(double(toNs - fromNs) / 1e6, 0, 'f', 3)
                           .arg(passes.size());
  status_->setText(text);
  Q_EMIT passesSelected(passes, text);
}

QWidget& TimelinePage::exportTarget() {
  return *timeline_;
}

}  // namespace moeprof::gui
