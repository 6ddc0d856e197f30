#include "gui/app/main_window.h"

#include <QDragEnterEvent>
#include <QFileDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <utility>

#include "gui/app/compare_page.h"
#include "gui/app/heatmap_page.h"
#include "gui/app/timeline_page.h"
#include "gui/views/view_export.h"

namespace moeprof::gui {

namespace {

constexpr int kMaxRecent = 8;
const char* kRecentKey = "recentFiles";

LoadOutcome loadInBackground(const QStringList& paths, std::shared_ptr<std::atomic<bool>> cancelled,
                             const std::function<void(int, QString)>& report) {
  std::vector<std::filesystem::path> files;
  for (const auto& p : paths) files.emplace_back(p.toStdString());
  LoadProgress progress{
      [&](int percent, const std::string& step) { report(percent, QString::fromStdString(step)); },
      cancelled.get()};
  try {
    return {std::make_shared<LoadedRuns>(loadRuns(files, progress)), {}, false};
  } catch (const LoadCancelled&) {
    return {nullptr, QObject::tr("Loading cancelled."), true};
  } catch (const std::exception& e) {
    return {nullptr, QString::fromUtf8(e.what()), false};
  }
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(tr("moeprof"));
  setAcceptDrops(true);
  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);
  banner_ = new QLabel(central);
  banner_->setWordWrap(true);
  banner_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  banner_->setVisible(false);
  tabs_ = new QTabWidget(central);
  layout->addWidget(banner_);
  layout->addWidget(tabs_, 1);
  setCentralWidget(central);
  progress_ = new QProgressBar(this);
  cancel_ = new QPushButton(tr("Cancel"), this);
  statusBar()->addPermanentWidget(progress_);
  statusBar()->addPermanentWidget(cancel_);
  progress_->setVisible(false);
  cancel_->setVisible(false);
  connect(cancel_, &QPushButton::clicked, this, &MainWindow::cancelLoad);
  connect(&watcher_, &QFutureWatcher<LoadOutcome>::finished, this, &MainWindow::finishLoad);
  buildPages();
  buildMenus();
  showMessage(tr("Open a run directory, a sweep, a reproduce directory or a trace "
                 "(File > Open, or drop it here)."),
              false);
}

MainWindow::~MainWindow() {
  pendingPaths_.clear();
  cancelLoad();
  watcher_.waitForFinished();
  passWatcher_.waitForFinished();
}

QStringList MainWindow::pageNames() {
  return {"overview", "heatmap", "cache", "placement", "timeline", "compare"};
}

void MainWindow::buildPages() {
  auto* overview = new ChartListPage({"speedup", "peak-memory"}, "Measured beside the paper",
                                     tr("No gating study in what was opened: the overview needs "
                                        "static and dynamic runs (a sweep or reproduce)."));
  cache_ = new ChartListPage({"miss-rate", "cache-"}, "Expert Buffering of",
                             tr("No routing log to replay through the expert cache, and no "
                                "run with --buffering."));
  placement_ = new ChartListPage({"placement", "rank-rows"}, "",
                                 tr("No routing log to place on devices, and no run with "
                                    "--ranks."));
  heatmap_ = new HeatmapPage;
  timeline_ = new TimelinePage;
  compare_ = new ComparePage;
  pages_ = {{"overview", overview},    {"heatmap", heatmap_},   {"cache", cache_},
            {"placement", placement_}, {"timeline", timeline_}, {"compare", compare_}};
  const QStringList titles = {tr("Overview"),  tr("Expert heatmap"), tr("Cache"),
                              tr("Placement"), tr("Timeline"),       tr("Compare")};
  for (size_t i = 0; i < pages_.size(); ++i) tabs_->addTab(pages_[i].second, titles[int(i)]);
  connect(timeline_, &TimelinePage::passesSelected, this, &MainWindow::filterByPasses);
  connect(&passWatcher_, &QFutureWatcher<PassOutcome>::finished, this,
          &MainWindow::finishPassCharts);
}

// The heatmap at once; the Cache and Placement views replay the passes' routing off the GUI
// thread.
void MainWindow::filterByPasses(const std::vector<Pass>& passes, const QString& description) {
  heatmap_->setPassFilter(passes);
  passDescription_ = description;
  statusBar()->showMessage(description +
                           tr(" The heatmap steps through these passes; the Cache and Placement "
                              "views replay them."));
  std::shared_ptr<LoadedRuns> runs = runs_;
  if (!runs) return;
  passWatcher_.setFuture(QtConcurrent::run([runs, passes] {
    try {
      return PassOutcome{runs, chartsForPasses(*runs, passes)};
    } catch (const std::exception& e) {  // shown above the (empty) views, never a crash
      return PassOutcome{runs, PassCharts{{}, {}, {std::string("Cannot replay: ") + e.what()}}};
    }
  }));
}

void MainWindow::finishPassCharts() {
  const PassOutcome outcome = passWatcher_.result();
  if (outcome.runs != runs_) return;  // another path was opened meanwhile
  const QString note =
      tr("Only the time range selected on the timeline: %1 (select the whole trace for every "
         "pass).")
          .arg(passDescription_);
  QString notes = note;
  for (const auto& n : outcome.charts.notes) notes += "\n" + QString::fromStdString(n);
  cache_->showCharts(outcome.charts.cache, notes);
  placement_->showCharts(outcome.charts.placement, notes);
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Open directory..."), QKeySequence::Open, this, [this] { openDialog(true); });
  file->addAction(tr("Open &trace file..."), this, [this] { openDialog(false); });
  recentMenu_ = file->addMenu(tr("Open &recent"));
  fillRecentMenu();
  file->addAction(tr("&Export view..."), QKeySequence(tr("Ctrl+E")), this,
                  &MainWindow::exportCurrent);
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
}

void MainWindow::openDialog(bool directory) {
  const QString path =
      directory
          ? QFileDialog::getExistingDirectory(this, tr("Open run, sweep or reproduce directory"))
          : QFileDialog::getOpenFileName(this, tr("Open trace"), {},
                                         tr("Traces (*.sqlite *.db);;All files (*)"));
  if (!path.isEmpty()) openPaths({path});
}

void MainWindow::openPaths(const QStringList& paths) {
  if (paths.isEmpty()) return;
  if (watcher_.isRunning()) {  // never wait on the GUI thread: finishLoad opens them
    pendingPaths_ = paths;
    cancelLoad();
    statusBar()->showMessage(
        tr("Stopping the current load to open %1").arg(paths.join(QStringLiteral(", "))));
    return;
  }
  cancelled_ = std::make_shared<std::atomic<bool>>(false);
  progress_->setValue(0);
  progress_->setVisible(true);
  cancel_->setVisible(true);
  statusBar()->showMessage(tr("Loading %1").arg(paths.join(QStringLiteral(", "))));
  rememberRecent(paths);
  QPointer<MainWindow> self(this);
  auto report = [self](int percent, QString step) {
    QMetaObject::invokeMethod(
        self,
        [self, percent, step] {
          if (!self) return;
          self->progress_->setValue(percent);
          self->statusBar()->showMessage(step);
        },
        Qt::QueuedConnection);
  };
  watcher_.setFuture(QtConcurrent::run(loadInBackground, paths, cancelled_, report));
}

void MainWindow::cancelLoad() {
  if (cancelled_) cancelled_->store(true);
}

void MainWindow::finishLoad() {
  progress_->setVisible(false);
  cancel_->setVisible(false);
  const LoadOutcome outcome = watcher_.result();
  if (!pendingPaths_.isEmpty()) {
    openPaths(std::exchange(pendingPaths_, {}));
    return;
  }
  if (!outcome.runs) {
    showMessage(outcome.cancelled ? outcome.error : tr("Cannot open: %1").arg(outcome.error),
                !outcome.cancelled);
    statusBar()->clearMessage();
    Q_EMIT loadFinished(false);
    return;
  }
  runs_ = outcome.runs;
  for (auto& [name, page] : pages_) page->showRuns(*runs_);
  QStringList warnings;
  for (const auto& w : runs_->inputs.warnings) warnings << QString::fromStdString(w);
  showMessage(warnings.join(QStringLiteral("\n")), true);
  statusBar()->showMessage(tr("Loaded %1").arg(QString::fromStdString(runs_->document.title)));
  Q_EMIT loadFinished(true);
}

void MainWindow::showMessage(const QString& text, bool error) {
  banner_->setText(text);
  banner_->setStyleSheet(error ? QStringLiteral("background:#fde2dd;color:#7a1c0c;padding:6px")
                               : QStringLiteral("color:#444;padding:6px"));
  banner_->setVisible(!text.isEmpty());
}

QString MainWindow::message() const {
  return banner_->isHidden() ? QString() : banner_->text();
}

DashboardPage* MainWindow::page(const QString& name) const {
  for (const auto& [n, p] : pages_) {
    if (n == name) return p;
  }
  return nullptr;
}

void MainWindow::showPage(const QString& name) {
  if (DashboardPage* p = page(name)) tabs_->setCurrentWidget(p);
}

QString MainWindow::exportPage(const QString& name, const QString& file) {
  DashboardPage* p = page(name);
  if (!p)
    return tr("no view named %1 (allowed: %2)").arg(name, pageNames().join(QStringLiteral(", ")));
  return exportWidget(p->exportTarget(), file);
}

void MainWindow::exportCurrent() {
  const QString file = QFileDialog::getSaveFileName(this, tr("Export view"), {},
                                                    tr("PNG image (*.png);;SVG drawing (*.svg)"));
  if (file.isEmpty()) return;
  const QString error = exportPage(pages_[size_t(tabs_->currentIndex())].first, file);
  if (error.isEmpty())
    statusBar()->showMessage(tr("Saved %1").arg(file));
  else
    showMessage(error, true);
}

void MainWindow::rememberRecent(const QStringList& paths) {
  QSettings settings;
  QStringList recent = settings.value(kRecentKey).toStringList();
  for (const auto& p : paths) {
    recent.removeAll(p);
    recent.prepend(p);
  }
  while (recent.size() > kMaxRecent) recent.removeLast();
  settings.setValue(kRecentKey, recent);
  fillRecentMenu();
}

void MainWindow::fillRecentMenu() {
  recentMenu_->clear();
  for (const auto& p : QSettings().value(kRecentKey).toStringList()) {
    recentMenu_->addAction(p, this, [this, p] { openPaths({p}); });
  }
  recentMenu_->setEnabled(!recentMenu_->isEmpty());
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  QStringList paths;
  for (const auto& url : event->mimeData()->urls()) {
    if (url.isLocalFile()) paths << url.toLocalFile();
  }
  openPaths(paths);
}

}  // namespace moeprof::gui
