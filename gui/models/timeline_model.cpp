#include "gui/models/timeline_model.h"

namespace moeprof::gui {

TimelineTrackModel::TimelineTrackModel(QObject* parent) : QAbstractTableModel(parent) {}

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
  if (rowCount() > 0) Q_EMIT dataChanged(index(0, 0), index(rowCount() - 1, kColumns - 1));
}

int TimelineTrackModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() || !timeline_ ? 0 : int(timeline_->tracks.size());
}

int TimelineTrackModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumns;
}

QVariant TimelineTrackModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (role != Qt::DisplayRole || orientation != Qt::Horizontal) return {};
  switch (section) {
    case kTrack:
      return tr("track");
    case kSpans:
      return tr("spans");
    case kSpansInRange:
      return tr("spans in the selected range");
    default:
      return {};
  }
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
      if (index.column() == kSpans) return qlonglong(track.spans.size());
      if (index.column() == kSpansInRange) return spansInRange(track);
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
