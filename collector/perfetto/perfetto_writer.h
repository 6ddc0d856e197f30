#pragma once
// Exports a Trace as Chrome Trace Event Format JSON (the object form: "traceEvents",
// "displayTimeUnit", "otherData"), which ui.perfetto.dev and chrome://tracing open. Tracks,
// nesting, flows and counters are described in collector/store/TRACE_STORE.md, "Perfetto export".
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "collector/trace_events.h"

namespace moeprof::collector {

class JsonTextWriter;
class OutputSink;

// What an export wrote; printed by `moeprof export` and recorded in the file's otherData.
struct PerfettoExportStats {
  int64_t events = 0;           // entries of "traceEvents", metadata and flow events included
  int64_t slices = 0;           // complete ("X") events
  int64_t instants = 0;         // instant ("i") events: NVTX marks, cache decisions, routing
  int64_t counters = 0;         // counter ("C") events
  int64_t tracks = 0;           // named slice tracks plus counter series
  int64_t flows = 0;            // flows written, each with its start and its end
  int64_t flowsDropped = 0;     // links whose other end is not in the trace
  int64_t flowsUnbindable = 0;  // both ends present, but no time binds the arrow to them
  int64_t overlapSlices = 0;    // slices moved to an overlap track (see the nesting rule)
  int64_t bytes = 0;  // bytes written: the file's size (compressed for .gz), else the JSON's
};

// One rank's trace in a multi-rank export; the trace must outlive the writer.
struct RankedTrace {
  int rank = 0;
  const Trace* trace = nullptr;
};

// Lays a Trace out on tracks once (in the constructor), then writes it as often as asked. The
// trace must outlive the writer. Output is deterministic: the same trace gives the same bytes.
class PerfettoWriter {
 public:
  explicit PerfettoWriter(const Trace& trace);
  // Every rank's trace in one document (collector/store/TRACE_STORE.md, "Perfetto export",
  // "Ranks"): each rank laid out as alone, then given its own pids ("rank R · host", ...), thread
  // ids and flow ids. `ranks` in increasing rank order, no rank twice (std::invalid_argument
  // otherwise).
  explicit PerfettoWriter(const std::vector<RankedTrace>& ranks);
  ~PerfettoWriter();
  PerfettoWriter(const PerfettoWriter&) = delete;
  PerfettoWriter& operator=(const PerfettoWriter&) = delete;

  // The whole JSON document (uncompressed).
  std::string json() const;

  // Streams the document into `sink` (collector/perfetto/perfetto_output.h) and calls its finish().
  PerfettoExportStats write(OutputSink& sink) const;

  // Writes the document to `path`, gzip-compressed when the name ends in ".gz", through a
  // temporary file beside it that is renamed at the end, so a failed export leaves no partial
  // file. Throws InputError when the directory is missing, or when `path` exists and !replace
  // (nothing is written then); std::runtime_error on I/O errors (the target stays untouched).
  PerfettoExportStats writeFile(const std::filesystem::path& path, bool replace) const;

  // The layout's counts, summed over the ranks; `bytes` is that of the last json()/writeFile().
  const PerfettoExportStats& stats() const;

 private:
  struct Layout;
  void writeHeader(JsonTextWriter& out) const;
  void writeDocument(JsonTextWriter& out) const;

  std::unique_ptr<Layout> layout_;
  mutable PerfettoExportStats stats_;
};

// True when `path` names a gzip output (ends in ".gz").
bool isGzipPath(const std::filesystem::path& path);

}  // namespace moeprof::collector
