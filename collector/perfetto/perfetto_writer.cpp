#include "collector/perfetto/perfetto_writer.h"

#include <array>
#include <map>
#include <stdexcept>
#include <system_error>

#include "collector/errors.h"
#include "collector/perfetto/perfetto_layout.h"
#include "collector/perfetto/perfetto_output.h"

namespace moeprof::collector {

namespace {

using perfetto::FlowKind;
using perfetto::PlacedSlice;
using perfetto::SliceKind;
using perfetto::Track;
using perfetto::TrackContent;

// CUpti_ActivityMemoryKind names, for memcpy args.
const char* memoryKindName(uint8_t kind) {
  static constexpr std::array<const char*, 8> kNames = {"unknown",       "pageable",      "pinned",
                                                        "device",        "array",         "managed",
                                                        "device_static", "managed_static"};
  return kind < kNames.size() ? kNames[kind] : "unknown";
}

const char* flowCategory(FlowKind kind) {
  switch (kind) {
    case FlowKind::OperatorToGpu:
      return "\"cat\":\"cpu_to_gpu\",\"name\":\"operator launch\"";
    case FlowKind::ApiToGpu:
      return "\"cat\":\"ac2g\",\"name\":\"api launch\"";
    case FlowKind::CacheToTransfer:
      break;
  }
  return "\"cat\":\"expert_cache\",\"name\":\"cache fill\"";
}

// Writes the "args" object of one event, only when it gets at least one key.
class ArgWriter {
 public:
  explicit ArgWriter(JsonTextWriter& out) : out_(out) {}
  ArgWriter(const ArgWriter&) = delete;
  ArgWriter& operator=(const ArgWriter&) = delete;
  // `name` is a literal that needs no escaping.
  JsonTextWriter& key(const char* name) {
    out_.raw(empty_ ? ",\"args\":{\"" : ",\"");
    out_.raw(name);
    out_.raw("\":");
    empty_ = false;
    return out_;
  }
  void close() {
    if (!empty_) out_.put('}');
  }

 private:
  JsonTextWriter& out_;
  bool empty_ = true;
};

// The "otherData" entries of one trace: its META rows and its sources' stats, each after a ','.
void writeTraceEntries(JsonTextWriter& out, const Trace& trace) {
  for (const auto& [key, value] : trace.meta) {
    out.put(',');
    out.string(key);
    out.put(':');
    out.string(value);
  }
  for (const auto& source : trace.sources) {
    out.put(',');
    out.string("source." + source.source);
    out.raw(":{\"events\":");
    out.i64(source.events);
    out.raw(",\"dropped\":");
    out.i64(source.dropped);
    out.raw(",\"overhead_ns\":");
    out.i64(source.overheadNs);
    out.put('}');
  }
}

// The export's own counts in "otherData", each after a ','.
void writeExportCounts(JsonTextWriter& out, const PerfettoExportStats& s) {
  std::pair<const char*, int64_t> counts[] = {{"export.flows", s.flows},
                                              {"export.flows_dropped", s.flowsDropped},
                                              {"export.flows_unbindable", s.flowsUnbindable},
                                              {"export.overlap_slices", s.overlapSlices}};
  for (const auto& [key, value] : counts) {
    out.raw(",\"");
    out.raw(key);
    out.raw("\":");
    out.i64(value);
  }
}

// Writes the events of one layout (one rank's, or the trace's when it has no ranks). Event order
// in the file matters where Perfetto's importer sees equal timestamps (it processes complete
// events first, longest first, then the rest in file order): slices and instants first, each
// cache flow's start right behind its instant, counters, then every other flow start, then every
// flow end. Ranks never share a track, so writing them one after the other keeps that per track.
class Emitter {
 public:
  // `first` is shared by the emitters of one document: whether no event is written yet.
  Emitter(const Trace& trace, const perfetto::Layout& layout, JsonTextWriter& out,
          PerfettoExportStats& stats, bool& first)
      : trace_(trace), layout_(layout), out_(out), stats_(stats), first_(first) {
    prefixes_.reserve(layout.tracks.size());
    for (const Track& track : layout.tracks) {
      prefixes_.push_back(",\"pid\":" + std::to_string(track.pid) +
                          ",\"tid\":" + std::to_string(track.tid) + ",\"ts\":");
    }
    for (size_t kind = 0; kind < memcpyNames_.size(); ++kind) {
      memcpyNames_[kind] = std::string("Memcpy ") + copyKindName(static_cast<uint8_t>(kind));
    }
  }

  void events() {
    metadata();
    for (size_t t = 0; t < layout_.tracks.size(); ++t) track(t);
    memoryCounters();
    cacheCounters();
    for (const auto& flow : layout_.flows) {
      if (flow.kind != FlowKind::CacheToTransfer) flowEvent(flow, false);
    }
    for (const auto& flow : layout_.flows) flowEvent(flow, true);
  }

 private:
  void next() {
    out_.raw(first_ ? "\n{" : ",\n{");
    first_ = false;
    ++stats_.events;
  }

  // {"ph":<ph>,"cat":"<cat>","name":<name>,"pid":P,"tid":T,"ts":<ts>
  void head(const char* phAndCat, std::string_view name, size_t track, int64_t ts) {
    next();
    out_.raw(phAndCat);
    out_.raw(",\"name\":");
    out_.string(name);
    out_.raw(prefixes_[track]);
    out_.micros(ts);
  }

  void metadataEvent(const char* name, uint32_t pid, const uint32_t* tid) {
    next();
    out_.raw("\"ph\":\"M\",\"name\":\"");
    out_.raw(name);
    out_.raw("\",\"pid\":");
    out_.u64(pid);
    if (tid != nullptr) {
      out_.raw(",\"tid\":");
      out_.u64(*tid);
    }
    out_.raw(",\"args\":{");
  }

  void metadata() {
    for (const auto& process : layout_.processes) {
      metadataEvent("process_name", process.pid, nullptr);
      out_.raw("\"name\":");
      out_.string(process.name);
      out_.raw("}}");
      metadataEvent("process_sort_index", process.pid, nullptr);
      out_.raw("\"sort_index\":");
      out_.i64(process.sortIndex);
      out_.raw("}}");
    }
    for (const Track& track : layout_.tracks) {
      metadataEvent("thread_name", track.pid, &track.tid);
      out_.raw("\"name\":");
      out_.string(track.name);
      out_.raw("}}");
      metadataEvent("thread_sort_index", track.pid, &track.tid);
      out_.raw("\"sort_index\":");
      out_.i64(track.sortIndex);
      out_.raw("}}");
    }
  }

  void track(size_t t) {
    const Track& track = layout_.tracks[t];
    switch (track.content) {
      case TrackContent::Slices:
        for (const PlacedSlice& slice : track.slices) this->slice(t, slice);
        for (uint32_t mark : track.marks) this->mark(t, trace_.ranges[mark]);
        break;
      case TrackContent::Cache:
        for (uint32_t index : layout_.cacheOrder) cacheInstant(t, index);
        break;
      case TrackContent::Routing:
        for (uint32_t index : layout_.routingOrder) routingInstant(t, trace_.routing[index]);
        break;
      case TrackContent::Counters:
        break;
    }
  }

  void duration(const PlacedSlice& slice) {
    out_.raw(",\"dur\":");
    out_.micros(slice.endNs - slice.startNs);
  }

  void slice(size_t t, const PlacedSlice& s) {
    ++stats_.slices;
    ArgWriter args(out_);
    switch (s.kind) {
      case SliceKind::Operator: {
        const auto& e = trace_.operators[s.index];
        head("\"ph\":\"X\",\"cat\":\"cpu_op\"", e.name, t, s.startNs);
        duration(s);
        if (e.correlationId != 0) args.key("correlation").u64(e.correlationId);
        if (e.sequenceNr >= 0) args.key("sequence").i64(e.sequenceNr);
        break;
      }
      case SliceKind::ApiCall: {
        const auto& e = trace_.apiCalls[s.index];
        head(e.api == ApiEvent::Api::Driver ? "\"ph\":\"X\",\"cat\":\"cuda_driver\""
                                            : "\"ph\":\"X\",\"cat\":\"cuda_runtime\"",
             e.name, t, s.startNs);
        duration(s);
        args.key("correlation").u64(e.correlationId);
        if (e.returnValue != 0) args.key("return_value").i64(e.returnValue);
        break;
      }
      case SliceKind::Overhead:
        head("\"ph\":\"X\",\"cat\":\"overhead\"", trace_.overheads[s.index].kind, t, s.startNs);
        duration(s);
        break;
      case SliceKind::Range: {
        const auto& e = trace_.ranges[s.index];
        head("\"ph\":\"X\",\"cat\":\"nvtx\"", e.text, t, s.startNs);
        duration(s);
        if (!e.domain.empty()) args.key("domain").string(e.domain);
        break;
      }
      case SliceKind::Kernel:
        kernel(t, s, args);
        break;
      case SliceKind::Memcpy:
        memcpy(t, s, args);
        break;
      case SliceKind::Memset: {
        const auto& e = trace_.memsets[s.index];
        head("\"ph\":\"X\",\"cat\":\"gpu_memset\"", "Memset", t, s.startNs);
        duration(s);
        gpuArgs(args, e.correlationId, e.deviceId, e.contextId, e.streamId);
        args.key("bytes").i64(e.bytes);
        args.key("value").u64(e.value);
        break;
      }
      case SliceKind::Transfer:
        transfer(t, s, args);
        break;
    }
    args.close();
    out_.put('}');
  }

  void gpuArgs(ArgWriter& args, uint64_t correlationId, uint32_t device, uint32_t context,
               uint32_t stream) {
    args.key("correlation").u64(correlationId);
    args.key("device").u64(device);
    args.key("context").u64(context);
    args.key("stream").u64(stream);
  }

  void triple(ArgWriter& args, const char* key, int32_t x, int32_t y, int32_t z) {
    args.key(key).put('[');
    out_.i64(x);
    out_.put(',');
    out_.i64(y);
    out_.put(',');
    out_.i64(z);
    out_.put(']');
  }

  void kernel(size_t t, const PlacedSlice& s, ArgWriter& args) {
    const auto& e = trace_.kernels[s.index];
    head("\"ph\":\"X\",\"cat\":\"kernel\"", e.name, t, s.startNs);
    duration(s);
    gpuArgs(args, e.correlationId, e.deviceId, e.contextId, e.streamId);
    triple(args, "grid", e.gridX, e.gridY, e.gridZ);
    triple(args, "block", e.blockX, e.blockY, e.blockZ);
    args.key("registers_per_thread").i64(e.registersPerThread);
    args.key("static_shared_bytes").i64(e.staticSharedBytes);
    args.key("dynamic_shared_bytes").i64(e.dynamicSharedBytes);
  }

  void memcpy(size_t t, const PlacedSlice& s, ArgWriter& args) {
    const auto& e = trace_.memcpys[s.index];
    head("\"ph\":\"X\",\"cat\":\"gpu_memcpy\"", memcpyNames_[e.copyKind], t, s.startNs);
    duration(s);
    gpuArgs(args, e.correlationId, e.deviceId, e.contextId, e.streamId);
    args.key("bytes").i64(e.bytes);
    args.key("kind").string(copyKindName(e.copyKind));
    args.key("src_kind").string(memoryKindName(e.srcKind));
    args.key("dst_kind").string(memoryKindName(e.dstKind));
    if (e.srcDeviceId >= 0) args.key("src_device").i64(e.srcDeviceId);
    if (e.dstDeviceId >= 0) args.key("dst_device").i64(e.dstDeviceId);
  }

  void transfer(size_t t, const PlacedSlice& s, ArgWriter& args) {
    const auto& e = trace_.transfers[s.index];
    std::string name = "L" + std::to_string(e.moeLayer) + " E" + std::to_string(e.expert) + " " +
                       memoryTierName(e.source) + "->" + memoryTierName(e.destination);
    head("\"ph\":\"X\",\"cat\":\"transfer\"", name, t, s.startNs);
    duration(s);
    args.key("transfer").u64(e.transferId);
    args.key("layer").u64(e.moeLayer);
    args.key("expert").u64(e.expert);
    args.key("bytes").i64(e.bytes);
    args.key("source").string(memoryTierName(e.source));
    args.key("destination").string(memoryTierName(e.destination));
    args.key("prefetch").raw(e.prefetch ? "true" : "false");
    args.key("thread").u64(e.threadId);
  }

  void mark(size_t t, const RangeEvent& e) {
    ++stats_.instants;
    head("\"ph\":\"i\",\"s\":\"t\",\"cat\":\"nvtx\"", e.text, t, e.startNs);
    ArgWriter args(out_);
    if (!e.domain.empty()) args.key("domain").string(e.domain);
    args.close();
    out_.put('}');
  }

  void cacheInstant(size_t t, uint32_t index) {
    const CacheEvent& e = trace_.cache[index];
    ++stats_.instants;
    head("\"ph\":\"i\",\"s\":\"t\",\"cat\":\"expert_cache\"", cacheActionName(e.action), t,
         e.timestampNs);
    ArgWriter args(out_);
    args.key("layer").u64(e.moeLayer);
    args.key("expert").u64(e.expert);
    args.key("slot").i64(e.slot);
    args.key("action").string(cacheActionName(e.action));
    args.key("batch").u64(e.batch);
    if (e.transferId != 0) args.key("transfer").u64(e.transferId);
    args.close();
    out_.put('}');
    // Right behind its instant: bound to it even when other decisions share its timestamp.
    if (uint64_t flow = layout_.cacheFlow[index]; flow != 0) {
      flowEvent(layout_.flows[flow - 1], false);
    }
  }

  void routingInstant(size_t t, const RoutingEvent& e) {
    ++stats_.instants;
    head("\"ph\":\"i\",\"s\":\"t\",\"cat\":\"routing\"", "layer " + std::to_string(e.moeLayer), t,
         e.timestampNs);
    ArgWriter args(out_);
    args.key("layer").u64(e.moeLayer);
    args.key("batch").u64(e.batch);
    args.key("step").u64(e.step);
    args.key("tokens").u64(e.tokens);
    args.key("tokens_per_expert").put('[');
    for (size_t i = 0; i < e.tokensPerExpert.size(); ++i) {
      if (i > 0) out_.put(',');
      out_.u64(e.tokensPerExpert[i]);
    }
    out_.put(']');
    args.close();
    out_.put('}');
  }

  // {"ph":"C","name":<name>,"pid":P,"tid":T,"ts":<ts>,"args":{
  void counterHead(uint32_t pid, uint32_t tid, int64_t ts) {
    out_.raw(",\"pid\":");
    out_.u64(pid);
    out_.raw(",\"tid\":");
    out_.u64(tid);
    out_.raw(",\"ts\":");
    out_.micros(ts);
    out_.raw(",\"args\":{");
    ++stats_.counters;
  }

  void memoryCounters() {
    for (const auto& series : layout_.memory) {
      for (uint32_t index : series.events) {
        const MemoryEvent& e = trace_.memory[index];
        next();
        out_.raw("\"ph\":\"C\",\"name\":");
        out_.string(series.name);
        counterHead(series.pid, series.tid, e.timestampNs);
        out_.raw("\"allocated_bytes\":");
        out_.i64(e.totalAllocatedBytes);
        out_.raw(",\"reserved_bytes\":");
        out_.i64(e.totalReservedBytes);
        out_.raw("}}");
      }
    }
  }

  // Cumulative hits / (hits + misses) per MoE layer and over all layers, after every lookup.
  void cacheCounters() {
    struct Tally {
      int64_t hits = 0, lookups = 0;
    };
    std::map<uint32_t, Tally> layers;
    Tally all;
    // The host process comes first and carries the cache counters.
    uint32_t pid = layout_.processes.empty() ? perfetto::kHostPid : layout_.processes.front().pid;
    uint32_t tid = layout_.processes.empty() ? 0 : layout_.processes.front().countersTid;
    for (uint32_t index : layout_.cacheOrder) {
      const CacheEvent& e = trace_.cache[index];
      if (e.action != CacheAction::Hit && e.action != CacheAction::Miss) continue;
      Tally& layer = layers[e.moeLayer];
      int64_t hit = e.action == CacheAction::Hit ? 1 : 0;
      layer.hits += hit;
      ++layer.lookups;
      all.hits += hit;
      ++all.lookups;
      next();
      out_.raw("\"ph\":\"C\",\"name\":\"expert cache layer ");
      out_.u64(e.moeLayer);
      out_.put('"');
      counterHead(pid, tid, e.timestampNs);
      out_.raw("\"hit_rate\":");
      out_.ratio(layer.hits, layer.lookups);
      out_.raw("}}");
      next();
      out_.raw("\"ph\":\"C\",\"name\":\"expert cache all layers\"");
      counterHead(pid, tid, e.timestampNs);
      out_.raw("\"hit_rate\":");
      out_.ratio(all.hits, all.lookups);
      out_.raw("}}");
    }
  }

  void flowEvent(const perfetto::Flow& flow, bool end) {
    next();
    out_.raw(end ? "\"ph\":\"f\",\"bp\":\"e\"," : "\"ph\":\"s\",");
    out_.raw(flowCategory(flow.kind));
    out_.raw(",\"id\":");
    out_.u64(flow.id);
    out_.raw(prefixes_[end ? flow.endTrack : flow.startTrack]);
    out_.micros(end ? flow.endNs : flow.startNs);
    out_.put('}');
  }

  const Trace& trace_;
  const perfetto::Layout& layout_;
  JsonTextWriter& out_;
  PerfettoExportStats& stats_;
  std::vector<std::string> prefixes_;  // per track: ,"pid":P,"tid":T,"ts":
  std::array<std::string, 256> memcpyNames_;
  bool& first_;
};

}  // namespace

struct PerfettoWriter::Layout {
  struct Part {
    int rank = 0;
    const Trace* trace = nullptr;
    perfetto::Layout data;
  };
  std::vector<Part> parts;
  bool ranked = false;  // the document labels ranks (multi-rank export)
  PerfettoExportStats stats;

  void add(int rank, const Trace& trace) {
    parts.push_back({rank, &trace, perfetto::layOut(trace)});
    // The layout's counts; slices, instants and counters are counted as they are written.
    const PerfettoExportStats& s = parts.back().data.stats;
    stats.tracks += s.tracks;
    stats.flows += s.flows;
    stats.flowsDropped += s.flowsDropped;
    stats.flowsUnbindable += s.flowsUnbindable;
    stats.overlapSlices += s.overlapSlices;
  }
};

PerfettoWriter::PerfettoWriter(const Trace& trace) : layout_(new Layout) {
  layout_->add(0, trace);
  stats_ = layout_->stats;
}

PerfettoWriter::PerfettoWriter(const std::vector<RankedTrace>& ranks) : layout_(new Layout) {
  layout_->ranked = true;
  perfetto::RankIdSpace ids;
  for (const RankedTrace& rank : ranks) {
    if (rank.trace == nullptr) throw std::invalid_argument("a rank without a trace to export");
    if (!layout_->parts.empty() && rank.rank <= layout_->parts.back().rank) {
      throw std::invalid_argument("ranks to export must be in increasing order, each once");
    }
    layout_->add(rank.rank, *rank.trace);
    ids.relabel(layout_->parts.back().data, rank.rank);
  }
  stats_ = layout_->stats;
}

PerfettoWriter::~PerfettoWriter() = default;

const PerfettoExportStats& PerfettoWriter::stats() const {
  return stats_;
}

void PerfettoWriter::writeHeader(JsonTextWriter& out) const {
  out.raw("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"exporter\":\"moeprof\"");
  if (!layout_->ranked) {
    if (!layout_->parts.empty()) writeTraceEntries(out, *layout_->parts.front().trace);
    writeExportCounts(out, layout_->stats);
  } else {
    // The ranks' META and counts under "rank R"; the export's counts summed over them.
    out.raw(",\"ranks\":[");
    for (size_t i = 0; i < layout_->parts.size(); ++i) {
      if (i > 0) out.put(',');
      out.i64(layout_->parts[i].rank);
    }
    out.put(']');
    writeExportCounts(out, layout_->stats);
    for (const Layout::Part& part : layout_->parts) {
      out.raw(",\"rank ");
      out.i64(part.rank);
      out.raw("\":{\"rank\":");
      out.i64(part.rank);
      writeTraceEntries(out, *part.trace);
      writeExportCounts(out, part.data.stats);
      out.put('}');
    }
  }
  out.raw("},\"traceEvents\":[");
}

void PerfettoWriter::writeDocument(JsonTextWriter& out) const {
  PerfettoExportStats stats = layout_->stats;
  writeHeader(out);
  bool first = true;
  for (const Layout::Part& part : layout_->parts) {
    Emitter(*part.trace, part.data, out, stats, first).events();
  }
  out.raw("\n]}\n");
  out.flush();
  stats.bytes = out.bytes();
  stats_ = stats;
}

PerfettoExportStats PerfettoWriter::write(OutputSink& sink) const {
  JsonTextWriter out(sink);
  writeDocument(out);
  sink.finish();
  return stats_;
}

std::string PerfettoWriter::json() const {
  StringSink sink;
  write(sink);
  return std::move(sink.text());
}

bool isGzipPath(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  return name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0;
}

PerfettoExportStats PerfettoWriter::writeFile(const std::filesystem::path& path,
                                              bool replace) const {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path directory = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(directory, error)) {
    throw InputError("output directory " + directory.string() +
                     " does not exist (create it first)");
  }
  if (fs::is_directory(path, error)) {
    throw InputError("output " + path.string() + " is a directory; name a file");
  }
  if (!replace && fs::exists(fs::symlink_status(path, error))) {
    throw InputError("output " + path.string() + " already exists; pass --force to replace it");
  }
  AtomicOutputFile file(path);
  FileSink fileSink(file.fd(), file.temporaryPath().string());
  std::unique_ptr<GzipSink> gzip;
  if (isGzipPath(path)) gzip = std::make_unique<GzipSink>(fileSink);
  // Compression and the writes run beside the formatting.
  BackgroundSink background(gzip ? static_cast<OutputSink&>(*gzip) : fileSink);
  write(background);
  file.commit(replace);
  stats_.bytes = fileSink.bytesWritten();
  return stats_;
}

}  // namespace moeprof::collector
