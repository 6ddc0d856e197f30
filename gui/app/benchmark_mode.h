#pragma once
// `moeprof-gui --benchmark [PATH...]`: logs the dashboard's timings. With paths: opening them
// (read and analyse) and the first paint of every view. Without: the synthetic targets,
// the first paint of a 24 x 512 expert heatmap over 10,000 passes and, on a written trace of
// 1M events, opening it and redrawing the timeline at several zoom levels, with the memory the
// trace takes beside its file size.
#include <QStringList>
#include <QTextStream>

namespace moeprof::gui {

int runBenchmark(const QStringList& paths, QTextStream& out);

}  // namespace moeprof::gui
