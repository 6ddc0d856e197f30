#include "gui/models/table_model.h"

#include <QColor>

namespace moeprof::gui {

namespace {

QVariant sortKey(const std::string& cell) {
  const QString text = QString::fromStdString(cell).trimmed();
  qsizetype end = 0;
  while (end < text.size() && (text[end].isDigit() || QStringLiteral(".-+e").contains(text[end])))
    ++end;
  bool ok = false;
  const double value = text.left(end).toDouble(&ok);
  return ok ? QVariant(value) : QVariant(text);
}

// Verdicts of analysis/statistics.h and of the reproduce table, coloured as reports colour them.
QVariant verdictColour(const std::string& cell) {
  if (cell == "regressed" || cell == "not reproduced") return QColor("#f4c7c3");
  if (cell == "improved" || cell == "reproduced") return QColor("#c9e7c9");
  if (cell == "direction reproduced" || cell == "unknown") return QColor("#fbe7b5");
  return {};
}

}  // namespace

ReportTableModel::ReportTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void ReportTableModel::setTable(const reports::Table& table) {
  beginResetModel();
  table_ = table;
  endResetModel();
}

int ReportTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(table_.numRows());
}

int ReportTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : int(table_.numColumns());
}

QVariant ReportTableModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
  const std::string& cell = table_.rows()[size_t(index.row())][size_t(index.column())];
  switch (role) {
    case Qt::DisplayRole:
    case Qt::ToolTipRole:
      return QString::fromStdString(cell);
    case Qt::UserRole:
      return sortKey(cell);
    case Qt::BackgroundRole:
      return verdictColour(cell);
    case Qt::TextAlignmentRole:
      return table_.alignments()[size_t(index.column())] == reports::Align::Right
                 ? QVariant(Qt::AlignRight | Qt::AlignVCenter)
                 : QVariant(Qt::AlignLeft | Qt::AlignVCenter);
    default:
      return {};
  }
}

QVariant ReportTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (role != Qt::DisplayRole) return {};
  if (orientation == Qt::Vertical) return section + 1;
  if (section < 0 || size_t(section) >= table_.numColumns()) return {};
  return QString::fromStdString(table_.headers()[size_t(section)]);
}

}  // namespace moeprof::gui
