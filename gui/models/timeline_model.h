#pragma once
// The timeline's tracks as a list model: one row per track, its name (DisplayRole), its span
// count (kSpanCountRole) and how many of its spans overlap the selected time range
// (kSpansInRangeRole), so a table beside the timeline, and tests, see what a selection holds.
#include <QAbstractListModel>

#include "gui/models/timeline_data.h"

namespace moeprof::gui {

class TimelineTrackModel : public QAbstractListModel {
  Q_OBJECT
 public:
  static constexpr int kSpanCountRole = Qt::UserRole;
  static constexpr int kSpansInRangeRole = Qt::UserRole + 1;

  explicit TimelineTrackModel(QObject* parent = nullptr);
  void setTimeline(const TimelineData* timeline);  // must outlive the model
  void setRange(int64_t fromNs, int64_t toNs);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;

 private:
  qlonglong spansInRange(const TimelineTrack& track) const;

  const TimelineData* timeline_ = nullptr;
  int64_t fromNs_ = 0;
  int64_t toNs_ = 0;
};

}  // namespace moeprof::gui
