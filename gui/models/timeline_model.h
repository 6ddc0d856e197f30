#pragma once
// The timeline's tracks as a table model: one row per track with its name, its span count and
// how many of its spans overlap the selected time range, so the table under the timeline, and
// tests, see what a selection holds. Column 0 also carries both counts in kSpanCountRole and
// kSpansInRangeRole.
#include <QAbstractTableModel>

#include "gui/models/timeline_data.h"

namespace moeprof::gui {

class TimelineTrackModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  static constexpr int kSpanCountRole = Qt::UserRole;
  static constexpr int kSpansInRangeRole = Qt::UserRole + 1;
  enum Column { kTrack, kSpans, kSpansInRange, kColumns };

  explicit TimelineTrackModel(QObject* parent = nullptr);
  void setTimeline(const TimelineData* timeline);  // must outlive the model
  void setRange(int64_t fromNs, int64_t toNs);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  qlonglong spansInRange(const TimelineTrack& track) const;

  const TimelineData* timeline_ = nullptr;
  int64_t fromNs_ = 0;
  int64_t toNs_ = 0;
};

}  // namespace moeprof::gui
