#pragma once
// The dashboard window: File > Open (directories and trace files), recent files (QSettings),
// drag and drop, export of the current view as PNG or SVG, and one tab per view. Paths load
// and are analysed off the GUI thread (QtConcurrent) with progress and cancel; a path that
// cannot be read leaves a message in the window, never a crash.
#include <QFutureWatcher>
#include <QMainWindow>
#include <atomic>
#include <memory>

#include "gui/app/pages.h"
#include "gui/models/heatmap_model.h"

class QLabel;
class QProgressBar;
class QPushButton;
class QTabWidget;

namespace moeprof::gui {

class HeatmapPage;
class TimelinePage;
class ComparePage;

// What a background load hands back: the runs, or why there are none.
struct LoadOutcome {
  std::shared_ptr<LoadedRuns> runs{};
  QString error{};
  bool cancelled = false;
};

// The Cache and Placement charts of a time range, and the runs they were built from.
struct PassOutcome {
  std::shared_ptr<LoadedRuns> runs{};
  PassCharts charts{};
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Starts loading in the background; loadFinished() follows.
  void openPaths(const QStringList& paths);
  void cancelLoad();
  bool isLoading() const { return watcher_.isRunning(); }
  const LoadedRuns* runs() const { return runs_.get(); }
  QString message() const;  // the error or warning banner's text

  // "overview", "heatmap", "cache", "placement", "timeline", "compare".
  static QStringList pageNames();
  DashboardPage* page(const QString& name) const;
  void showPage(const QString& name);
  QString exportPage(const QString& name, const QString& file);
  HeatmapPage& heatmapPage() const { return *heatmap_; }
  TimelinePage& timelinePage() const { return *timeline_; }
  ComparePage& comparePage() const { return *compare_; }
  // Whether the Cache and Placement views are still being rebuilt for a time range.
  bool isFilteringPasses() const { return passWatcher_.isRunning(); }

 Q_SIGNALS:
  void loadFinished(bool ok);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void buildMenus();
  void buildPages();
  void rememberRecent(const QStringList& paths);
  void fillRecentMenu();
  void finishLoad();
  void filterByPasses(const std::vector<Pass>& passes, const QString& description);
  void finishPassCharts();
  void showMessage(const QString& text, bool error);
  void exportCurrent();
  void openDialog(bool directory);

  QTabWidget* tabs_ = nullptr;
  QLabel* banner_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QMenu* recentMenu_ = nullptr;
  std::vector<std::pair<QString, DashboardPage*>> pages_;
  HeatmapPage* heatmap_ = nullptr;
  TimelinePage* timeline_ = nullptr;
  ComparePage* compare_ = nullptr;
  ChartListPage* cache_ = nullptr;
  ChartListPage* placement_ = nullptr;
  QFutureWatcher<LoadOutcome> watcher_;
  QStringList pendingPaths_;  // opened while a load ran: loaded once that load stops
  QFutureWatcher<PassOutcome> passWatcher_;
  QString passDescription_;
  std::shared_ptr<std::atomic<bool>> cancelled_;
  std::shared_ptr<LoadedRuns> runs_;
};

}  // namespace moeprof::gui
