#include "gui/views/view_export.h"

#include <QPainter>
#include <QPixmap>
#ifdef MOEPROF_GUI_HAVE_SVG
#include <QSvgGenerator>
#endif

namespace moeprof::gui {

namespace {

QString exportSvg(QWidget& widget, const QString& path) {
#ifdef MOEPROF_GUI_HAVE_SVG
  QSvgGenerator generator;
  generator.setFileName(path);
  generator.setSize(widget.size());
  generator.setViewBox(QRect(QPoint(0, 0), widget.size()));
  generator.setTitle(widget.windowTitle());
  QPainter painter;
  if (!painter.begin(&generator)) return QStringLiteral("cannot write %1").arg(path);
  widget.render(&painter);
  painter.end();
  return {};
#else
  return QStringLiteral("SVG export needs Qt Svg (Debian: qt6-svg-dev); %1 not written").arg(path);
#endif
}

}  // namespace

bool svgExportAvailable() {
#ifdef MOEPROF_GUI_HAVE_SVG
  return true;
#else
  return false;
#endif
}

QString exportWidget(QWidget& widget, const QString& path) {
  if (path.endsWith(QStringLiteral(".svg"), Qt::CaseInsensitive)) return exportSvg(widget, path);
  if (!path.endsWith(QStringLiteral(".png"), Qt::CaseInsensitive)) {
    return QStringLiteral("%1: unknown image type (allowed: .png, .svg)").arg(path);
  }
  if (!widget.grab().save(path, "PNG")) return QStringLiteral("cannot write %1").arg(path);
  return {};
}

}  // namespace moeprof::gui
