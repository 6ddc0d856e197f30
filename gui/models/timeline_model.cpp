#include "gui/models/timeline_model.h"

namespace moeprof::gui {

TimelineTrackModel::TimelineTrackModel(QObject* parent) : QAbstractListModel(parent) {}

void TimelineTrackModel::setTimeline(const TimelineData* timeline) {
  beginResetModel();
  timeline_ = timeline;
  fromNs_ = timeline ? timeline->startNs : 0;
  toNs_ = timeline ? timeline->endNs : 0;
  endResetModel();
}

void TimelineTrackModel::setRange(int64_t fromNs, int64_t toNs) {
  fromNs_ = fromNs;
  toNs_ = toNs;
  if (rowCount() > 0) Q_EMIT dataChanged(index(0), index(rowCount() - 1), {kSpansInRangeRole});
}

int TimelineTrackModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() || !timeline_ ? 0 : int(timeline_->tracks.size());
}

qlonglong TimelineTrackModel::spansInRange(const TimelineTrack& track) const {
  const size_t first = firstSpanEndingAfter(track, fromNs_);
  const size_t end = firstSpanStartingAt(track, first, toNs_ + 1);
  qlonglong count = 0;
  for (size_t i = first; i < end; ++i) count += track.spans[i].endNs >= fromNs_ ? 1 : 0;
  return count;
}

QVariant TimelineTrackModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
  const auto& track = timeline_->tracks[size_t(index.row())];
  switch (role) {
    case Qt::DisplayRole:
      return QString::fromStdString(track.name);
    case kSpanCountRole:
      return qlonglong(track.spans.size());
    case kSpansInRangeRole:
      return spansInRange(track);
    default:
      return {};
  }
}

}  // namespace moeprof::gui
