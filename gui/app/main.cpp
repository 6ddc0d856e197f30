// moeprof-gui: the Qt dashboard over the analysis library.
//   moeprof-gui [PATH...]                          open run, sweep, reproduce dirs or traces
//   moeprof-gui --screenshot VIEW --out FILE PATH  render one view to PNG/SVG without a window
//   moeprof-gui --benchmark [PATH...]              log load and paint timings
// Exit codes follow moeprof's: 0 success, 1 runtime failure, 2 bad usage or input.
#include <QApplication>
#include <QCommandLineParser>
#include <QEventLoop>
#include <QTextStream>
#include <cstdio>

#include "gui/app/benchmark_mode.h"
#include "gui/app/main_window.h"

namespace {

using moeprof::gui::MainWindow;

// Screenshots and benchmarks need no display: render offscreen unless a platform was chosen.
void useOffscreenFor(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const QByteArray arg(argv[i]);
    if ((arg == "--screenshot" || arg == "--benchmark") &&
        qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) {
      qputenv("QT_QPA_PLATFORM", "offscreen");
    }
  }
}

int screenshot(const QString& view, const QString& out, const QStringList& paths) {
  QTextStream err(stderr);
  if (!MainWindow::pageNames().contains(view)) {
    err << "moeprof-gui: unknown view '" << view
        << "' (allowed: " << MainWindow::pageNames().join(QStringLiteral(", ")) << ")\n";
    return 2;
  }
  MainWindow window;
  window.resize(1400, 900);
  QEventLoop loop;
  QObject::connect(&window, &MainWindow::loadFinished, &loop, &QEventLoop::quit);
  window.openPaths(paths);
  loop.exec();
  window.showPage(view);
  window.show();
  QApplication::processEvents();
  const QString error =
      out.endsWith(QStringLiteral(".svg"))
          ? window.exportPage(view, out)
          : (window.grab().save(out, "PNG") ? QString() : QStringLiteral("cannot write ") + out);
  if (!error.isEmpty()) {
    err << "moeprof-gui: " << error << "\n";
    return 1;
  }
  if (!window.runs()) err << "moeprof-gui: " << window.message() << "\n";
  return window.runs() ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  useOffscreenFor(argc, argv);
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("moeprof"));
  QApplication::setApplicationName(QStringLiteral("moeprof-gui"));
  QCommandLineParser parser;
  parser.setApplicationDescription(
      QStringLiteral("The moeprof dashboard: runs, experts, caches, placements, timelines."));
  parser.addHelpOption();
  parser.addPositionalArgument(QStringLiteral("PATH"),
                               QStringLiteral("run, sweep or reproduce directory, or a trace file"),
                               QStringLiteral("[PATH...]"));
  const QCommandLineOption shot(
      QStringLiteral("screenshot"),
      QStringLiteral(
          "Render VIEW (overview, heatmap, cache, placement, timeline, compare) without a window."),
      QStringLiteral("VIEW"));
  const QCommandLineOption out(QStringLiteral("out"),
                               QStringLiteral("Image file for --screenshot (.png or .svg)."),
                               QStringLiteral("FILE"));
  const QCommandLineOption bench(
      QStringLiteral("benchmark"),
      QStringLiteral("Log load and paint timings (synthetic targets without PATH)."));
  parser.addOptions({shot, out, bench});
  parser.process(app);
  const QStringList paths = parser.positionalArguments();
  if (parser.isSet(bench)) {
    QTextStream stdoutStream(stdout);
    return moeprof::gui::runBenchmark(paths, stdoutStream);
  }
  if (parser.isSet(shot)) {
    if (!parser.isSet(out) || paths.isEmpty()) {
      QTextStream(stderr) << "moeprof-gui: --screenshot needs --out FILE and a PATH\n";
      return 2;
    }
    return screenshot(parser.value(shot), parser.value(out), paths);
  }
  MainWindow window;
  window.resize(1400, 900);
  window.show();
  window.openPaths(paths);
  return app.exec();
}
