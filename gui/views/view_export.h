#pragma once
// Saves what a view shows: PNG (the widget grabbed) or SVG (the widget painted through
// QSvgGenerator, when Qt Svg is built in), chosen by the file's extension.
#include <QString>
#include <QWidget>

namespace moeprof::gui {

// Returns an empty string on success, else what went wrong (unknown extension, write failed).
QString exportWidget(QWidget& widget, const QString& path);
bool svgExportAvailable();

}  // namespace moeprof::gui
