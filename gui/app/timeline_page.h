#pragma once
// The trace timeline with its track list (span counts, and spans inside the selected range).
// Selecting a range (Shift+drag) emits the passes routed inside it, which filter the heatmap.
#include <vector>

#include "gui/app/pages.h"
#include "gui/models/heatmap_model.h"
#include "gui/models/timeline_model.h"

namespace moeprof::gui {

class TimelineWidget;

class TimelinePage : public DashboardPage {
  Q_OBJECT
 public:
  explicit TimelinePage(QWidget* parent = nullptr);
  void showRuns(const LoadedRuns& runs) override;
  QWidget& exportTarget() override;
  // What a Shift+drag selects; also callable directly (tests, a range typed elsewhere).
  void selectRange(qint64 fromNs, qint64 toNs);

  TimelineWidget& timeline() { return *timeline_; }
  TimelineTrackModel& tracks() { return tracks_; }

 Q_SIGNALS:
  void passesSelected(const std::vector<moeprof::gui::Pass>& passes, const QString& description);

 private:
  const LoadedRuns* runs_ = nullptr;
  TimelineWidget* timeline_ = nullptr;
  TimelineTrackModel tracks_;
  QLabel* status_ = nullptr;
};

}  // namespace moeprof::gui
