#include "gui/app/benchmark_mode.h"

#include <malloc.h>
#include <QElapsedTimer>
#include <QEventLoop>

#include <QPixmap>
#include <QTemporaryDir>
#include <algorithm>
#include <fstream>
#include <random>
#include <string>

#include "analysis/trace_loader.h"
#include "collector/store/trace_store.h"
#include "gui/app/heatmap_page.h"
#include "gui/app/main_window.h"
#include "gui/app/timeline_page.h"
#include "gui/views/timeline_widget.h"

namespace moeprof::gui {

namespace {

constexpr int kLayers = 24;
constexpr int kExperts = 512;
constexpr int kPasses = 10'000;
constexpr int kTraceEvents = 1'000'000;

double msSince(const QElapsedTimer& timer) {
  return double(timer.nsecsElapsed()) / 1e6;
}

// Heap bytes in use (glibc): unlike the resident size, it does not hide memory that an
// earlier benchmark freed and this one reuses.
double heapBytesInUse() {
  return double(mallinfo2().uordblks) + double(mallinfo2().hblkhd);
}

// A field of /proc/self/status in MB ("VmRSS", "VmHWM"); 0 where there is none.
double statusMegabytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1e3;
  }
  return 0;
}

// Returns freed heap to the system and restarts the kernel's peak resident size (VmHWM) from
// the current one, so that the next VmHWM is the peak of what follows. False where Linux does
// not allow it.
bool restartPeakResident() {
  malloc_trim(0);
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return bool(clear);
}

// Skewed loads: a few hot experts per layer, many cool and some idle ones.
RunRouting syntheticRouting() {
  RunRouting routing{"synthetic 24x512", {}, {}};
  routing.loads.numExperts = kExperts;
  routing.loads.topK = 2;
  std::mt19937 random(7);
  std::geometric_distribution<int> expert(0.02);
  for (int l = 0; l < kLayers; ++l) {
    analysis::LayerLoads layer;
    layer.layer.blockIndex = uint32_t(l);
    for (int p = 0; p < kPasses; ++p) {
      layer.rows.emplace_back(uint32_t(p), 0);
      std::vector<double> tokens(kExperts, 0);
      for (int t = 0; t < 256; ++t) tokens[size_t(std::min(expert(random), kExperts - 1))] += 1;
      layer.tokens.push_back(std::move(tokens));
    }
    routing.loads.layers.push_back(std::move(layer));
  }
  return routing;
}

void benchmarkHeatmap(QTextStream& out) {
  LoadedRuns runs;
  runs.routings.push_back(syntheticRouting());
  HeatmapPage page;
  page.resize(1600, 900);
  QElapsedTimer timer;
  timer.start();
  page.showRuns(runs);
  const double modelMs = msSince(timer);
  const QPixmap first = page.grab();
  out << "heatmap first paint (24 x 512, 10000 passes): " << msSince(timer)
      << " ms (target 200), of which model and chart " << modelMs << " ms\n";
  timer.restart();
  page.model().setPassIndex(5000);
  page.grab();
  out << "heatmap next pass repaint: " << msSince(timer) << " ms\n";
}

// A traced MoE run's shape: per layer call an NVTX range, an operator with three children, a
// kernel, two memory events, a cache lookup and a routing event; 10 events per call.
void writeTrace(const std::filesystem::path& file) {
  collector::TraceWriter writer(file);
  int64_t now = 1'000'000, allocated = 0;
  for (uint64_t call = 0; call < kTraceEvents / 10; ++call, now += 10'000) {
    writer.append(collector::RangeEvent{now, now + 9'000, 1, "moeprof", "experts", false});
    writer.append(
        collector::OperatorEvent{now + 100, now + 8'900, 1, "aten::linear", -1, 0, call * 4 + 1});
    for (uint64_t child = 0; child < 3; ++child) {
      const int64_t at = now + 200 + int64_t(child) * 2'800;
      writer.append(
          collector::OperatorEvent{at, at + 2'500, 1, "aten::addmm", -1, 1, call * 4 + 2 + child});
    }
    collector::KernelEvent kernel;
    kernel.startNs = now + 300;
    kernel.endNs = now + 7'000;
    kernel.streamId = 7;
    kernel.name = call % 2 ? "expert_ffn" : "gate_topk";
    writer.append(kernel);
    const int64_t bytes = (1 << 20) + int64_t(call % 7) * 4096;
    writer.append(collector::MemoryEvent{now + 150, 1, 0, -1, bytes, allocated + bytes,
                                         allocated + bytes, 0});
    writer.append(collector::MemoryEvent{now + 8'800, 1, 0, -1, -bytes, allocated, allocated, 0});
    writer.append(collector::CacheEvent{
        now + 50, uint32_t(call / 12), uint32_t(call % 12), uint32_t(call % 64), int32_t(call % 8),
        call % 5 ? collector::CacheAction::Hit : collector::CacheAction::Miss, 0});
    writer.append(
        collector::RoutingEvent{now + 60, uint32_t(call / 12), uint32_t(call % 12), 0, 8, {}});
  }
  writer.close();
}

void benchmarkRedraws(TimelineWidget& widget, QTextStream& out) {
  widget.resize(1600, 700);
  const int64_t from = widget.viewFromNs(), to = widget.viewToNs();
  for (double share : {1.0, 0.1, 0.01, 0.001}) {
    widget.setView(from, from + int64_t(double(to - from) * share));
    double worst = 0, sum = 0;
    constexpr int kRedraws = 10;
    for (int i = 0; i < kRedraws; ++i) {
      widget.grab();
      worst = std::max(worst, widget.lastPaintMs());
      sum += widget.lastPaintMs();
    }
    out << "timeline redraw, " << share * 100 << "% of the trace in view: mean " << sum / kRedraws
        << " ms, worst " << worst << " ms, " << widget.spansDrawn()
        << " spans drawn (target 16 ms)\n";
  }
}

void benchmarkTimeline(QTextStream& out) {
  QTemporaryDir dir;
  const std::filesystem::path file = dir.filePath(QStringLiteral("trace.sqlite")).toStdString();
  writeTrace(file);
  const double before = heapBytesInUse();
  const bool peakKnown = restartPeakResident();
  const double residentBefore = statusMegabytes("VmRSS");
  QElapsedTimer timer;
  timer.start();
  LoadedRuns runs;
  runs.timeline = buildTimeline(analysis::loadTrace(file));
  out << "open 1M-event trace: " << msSince(timer) << " ms (target 2000), "
      << runs.timeline->eventCount << " events\n";
  const double fileMb = double(std::filesystem::file_size(file)) / 1e6;
  out << "memory: " << (heapBytesInUse() - before) / 1e6 << " MB of heap held for a " << fileMb
      << " MB trace file (target at most 3x)\n";
  if (peakKnown) {
    const double peak = statusMegabytes("VmHWM") - residentBefore;
    out << "memory while loading: peak " << peak << " MB resident above the " << residentBefore
        << " MB before (VmHWM), " << peak / fileMb << "x the trace file\n";
  }
  TimelinePage page;
  page.showRuns(runs);
  benchmarkRedraws(page.timeline(), out);
}

int benchmarkPaths(const QStringList& paths, QTextStream& out) {
  MainWindow window;
  window.resize(1600, 1000);
  QElapsedTimer timer;
  timer.start();
  window.openPaths(paths);
  QEventLoop loop;
  QObject::connect(&window, &MainWindow::loadFinished, &loop, &QEventLoop::quit);
  loop.exec();
  out << "open " << paths.join(QStringLiteral(" ")) << ": " << msSince(timer) << " ms\n";
  if (!window.runs()) {
    out << "could not open: " << window.message() << "\n";
    return 1;
  }
  window.show();
  for (const auto& name : MainWindow::pageNames()) {
    window.showPage(name);
    timer.restart();
    window.grab();
    out << "first paint of " << name << ": " << msSince(timer) << " ms\n";
  }
  if (window.runs()->timeline) benchmarkRedraws(window.timelinePage().timeline(), out);
  return 0;
}

}  // namespace

int runBenchmark(const QStringList& paths, QTextStream& out) {
  if (!paths.isEmpty()) return benchmarkPaths(paths, out);
  benchmarkHeatmap(out);
  out.flush();
  benchmarkTimeline(out);
  return 0;
}

}  // namespace moeprof::gui
