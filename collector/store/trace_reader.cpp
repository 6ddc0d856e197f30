#include "collector/store/trace_reader.h"

#include <cerrno>
#include <cstdlib>
#include <limits>

#include "collector/errors.h"
#include "collector/store/cupti_table_rows.h"
#include "collector/store/sqlite_statement.h"
#include "collector/store/trace_store.h"

namespace moeprof::collector {

using sqlite::forEachRow;
using sqlite::readGuarded;
using sqlite::RowReader;
using sqlite::Statement;

void TraceReader::Closer::operator()(sqlite3* db) const {
  sqlite3_close_v2(db);
}

TraceReader::TraceReader(const std::filesystem::path& file) : path_(file) {
  std::error_code ignored;
  if (!std::filesystem::exists(path_, ignored)) {
    throw InputError("trace store " + path_.string() + " does not exist");
  }
  if (!std::filesystem::is_regular_file(path_, ignored)) {
    throw InputError("trace store " + path_.string() + " is not a regular file");
  }
  bool hasMeta = readGuarded(path_, [&] {
    db_.reset(sqlite::openConnection(path_, SQLITE_OPEN_READONLY).release());
    return sqlite::tableExists(db_.get(), "META");
  });
  if (!hasMeta) {
    throw InputError("trace store " + path_.string() +
                     " has no META table: it is an SQLite database but not a moeprof trace store");
  }
  std::string version = meta("schema_version");
  char* end = nullptr;
  errno = 0;
  long parsed = std::strtol(version.c_str(), &end, 10);
  bool valid = !version.empty() && *end == '\0' && errno == 0 && parsed > 0 &&
               parsed <= std::numeric_limits<int>::max();
  if (!valid || parsed != kTraceSchemaVersion) {
    throw InputError("trace store " + path_.string() + " has schema_version " +
                     (version.empty() ? "(none)" : "'" + version + "'") + "; this moeprof reads " +
                     std::to_string(kTraceSchemaVersion));
  }
  schemaVersion_ = static_cast<int>(parsed);
}

TraceReader::~TraceReader() = default;

std::string TraceReader::meta(const std::string& key) const {
  return readGuarded(path_, [&] {
    Statement statement(db_.get(), "SELECT value FROM META WHERE key = ?");
    statement.bind(key);
    return statement.next() ? RowReader(statement.get(), path_, "META").text(0) : std::string();
  });
}

std::vector<OperatorEvent> TraceReader::operators() const {
  std::vector<OperatorEvent> events;
  forEachRow(db_.get(), path_, "MOEPROF_OPERATORS",
             "SELECT o.start, o.end, o.globalTid, s.value, o.sequenceNr, o.depth, o.correlationId "
             "FROM MOEPROF_OPERATORS o LEFT JOIN StringIds s ON s.id = o.nameId "
             "ORDER BY o.start, o.end DESC, o.rowid",
             [&](const RowReader& row) {
               OperatorEvent& event = events.emplace_back();
               event.startNs = row.i64(0);
               event.endNs = row.i64(1);
               event.threadId = row.u64(2);
               event.name = row.text(3);
               event.sequenceNr = row.i64(4);
               event.depth = row.narrow<int32_t>(5);
               event.correlationId = row.u64(6);
             });
  return events;
}

std::vector<RangeEvent> TraceReader::ranges() const {
  std::vector<RangeEvent> events;
  // Nsight Systems keeps unregistered strings in `text` and registered ones in `textId`.
  forEachRow(db_.get(), path_, "NVTX_EVENTS",
             "SELECT n.start, n.end, n.eventType, n.globalTid, COALESCE(n.text, t.value), d.value "
             "FROM NVTX_EVENTS n LEFT JOIN StringIds t ON t.id = n.textId "
             "LEFT JOIN StringIds d ON d.id = n.domainId WHERE n.eventType IN (34, 59) "
             "ORDER BY n.start, COALESCE(n.end, n.start) DESC, n.rowid",
             [&](const RowReader& row) {
               RangeEvent& event = events.emplace_back();
               event.startNs = row.i64(0);
               event.isMark = row.i64(2) == kNvtxMarkEventType;
               event.endNs = row.isNull(1) ? event.startNs : row.i64(1);
               event.threadId = row.u64(3);
               event.text = row.text(4);
               event.domain = row.text(5);
             });
  return events;
}

std::vector<MemoryEvent> TraceReader::memory() const {
  std::vector<MemoryEvent> events;
  forEachRow(db_.get(), path_, "MOEPROF_MEMORY",
             "SELECT timestamp, globalTid, deviceType, deviceId, bytes, totalAllocated, "
             "totalReserved, address FROM MOEPROF_MEMORY ORDER BY timestamp, rowid",
             [&](const RowReader& row) {
               MemoryEvent& event = events.emplace_back();
               event.timestampNs = row.i64(0);
               event.threadId = row.u64(1);
               event.deviceType = row.narrow<int8_t>(2);
               event.deviceIndex = row.narrow<int8_t>(3);
               event.bytes = row.i64(4);
               event.totalAllocatedBytes = row.i64(5);
               event.totalReservedBytes = row.i64(6);
               event.address = row.u64(7);
             });
  return events;
}

std::vector<RoutingEvent> TraceReader::routing() const {
  std::vector<RoutingEvent> events;
  forEachRow(db_.get(), path_, "MOEPROF_ROUTING",
             "SELECT timestamp, batch, moeLayer, step, tokens, tokensPerExpert "
             "FROM MOEPROF_ROUTING ORDER BY timestamp, rowid",
             [&](const RowReader& row) {
               RoutingEvent& event = events.emplace_back();
               event.timestampNs = row.i64(0);
               event.batch = row.narrow<uint32_t>(1);
               event.moeLayer = row.narrow<uint32_t>(2);
               event.step = row.narrow<uint32_t>(3);
               event.tokens = row.narrow<uint32_t>(4);
               event.tokensPerExpert = row.u32s(5);
             });
  return events;
}

Trace TraceReader::readAll() const {
  Trace trace;
  forEachRow(db_.get(), path_, "META", "SELECT key, value FROM META ORDER BY key",
             [&](const RowReader& row) { trace.meta[row.text(0)] = row.text(1); });
  trace.operators = operators();
  trace.ranges = ranges();
  trace.memory = memory();
  trace.kernels = kernels();
  trace.memcpys = memcpys();
  trace.memsets = memsets();
  trace.apiCalls = apiCalls();
  trace.correlations = correlations();
  trace.overheads = overheads();
  trace.routing = routing();
  trace.cache = cache();
  trace.transfers = transfers();
  trace.sources = sources();
  return trace;
}

std::vector<KernelEvent> TraceReader::kernels() const {
  std::vector<KernelEvent> events;
  forEachRow(db_.get(), path_, "CUPTI_ACTIVITY_KIND_KERNEL",
             "SELECT k.start, k.end, k.deviceId, k.contextId, k.streamId, k.correlationId, "
             "s.value, k.gridX, k.gridY, k.gridZ, k.blockX, k.blockY, k.blockZ, "
             "k.registersPerThread, k.staticSharedMemory, k.dynamicSharedMemory "
             "FROM CUPTI_ACTIVITY_KIND_KERNEL k LEFT JOIN StringIds s ON s.id = k.demangledName "
             "ORDER BY k.start, k.rowid",
             [&](const RowReader& row) { events.push_back(kernelFromRow(row)); });
  return events;
}

std::vector<MemcpyEvent> TraceReader::memcpys() const {
  std::vector<MemcpyEvent> events;
  forEachRow(db_.get(), path_, "CUPTI_ACTIVITY_KIND_MEMCPY",
             "SELECT start, end, deviceId, contextId, streamId, correlationId, bytes, copyKind, "
             "srcKind, dstKind, COALESCE(srcDeviceId, -1), COALESCE(dstDeviceId, -1) "
             "FROM CUPTI_ACTIVITY_KIND_MEMCPY ORDER BY start, rowid",
             [&](const RowReader& row) {
               MemcpyEvent& event = events.emplace_back();
               event.startNs = row.i64(0);
               event.endNs = row.i64(1);
               event.deviceId = row.narrow<uint32_t>(2);
               event.contextId = row.narrow<uint32_t>(3);
               event.streamId = row.narrow<uint32_t>(4);
               event.correlationId = row.u64(5);
               event.bytes = row.i64(6);
               event.copyKind = row.narrow<uint8_t>(7);
               event.srcKind = row.narrow<uint8_t>(8);
               event.dstKind = row.narrow<uint8_t>(9);
               event.srcDeviceId = row.narrow<int32_t>(10);
               event.dstDeviceId = row.narrow<int32_t>(11);
             });
  return events;
}

std::vector<MemsetEvent> TraceReader::memsets() const {
  std::vector<MemsetEvent> events;
  forEachRow(db_.get(), path_, "CUPTI_ACTIVITY_KIND_MEMSET",
             "SELECT start, end, deviceId, contextId, streamId, correlationId, value, bytes "
             "FROM CUPTI_ACTIVITY_KIND_MEMSET ORDER BY start, rowid",
             [&](const RowReader& row) { events.push_back(memsetFromRow(row)); });
  return events;
}

std::vector<ApiEvent> TraceReader::apiCalls() const {
  std::vector<ApiEvent> events;
  forEachRow(db_.get(), path_, "CUPTI_ACTIVITY_KIND_RUNTIME",
             "SELECT r.start, r.end, r.eventClass, r.globalTid, r.correlationId, s.value, "
             "r.returnValue FROM CUPTI_ACTIVITY_KIND_RUNTIME r "
             "LEFT JOIN StringIds s ON s.id = r.nameId ORDER BY r.start, r.rowid",
             [&](const RowReader& row) {
               ApiEvent& event = events.emplace_back();
               event.startNs = row.i64(0);
               event.endNs = row.i64(1);
               event.api = row.enumeration<ApiEvent::Api>(2, ApiEvent::Api::Driver);
               event.threadId = row.u64(3);
               event.correlationId = row.u64(4);
               event.name = row.text(5);
               event.returnValue = row.narrow<int32_t>(6);
             });
  return events;
}

std::vector<CorrelationEvent> TraceReader::correlations() const {
  std::vector<CorrelationEvent> events;
  forEachRow(db_.get(), path_, "MOEPROF_EXTERNAL_CORRELATION",
             "SELECT correlationId, externalId FROM MOEPROF_EXTERNAL_CORRELATION ORDER BY rowid",
             [&](const RowReader& row) {
               events.push_back({row.u64(0), row.u64(1)});
             });
  return events;
}

std::vector<OverheadEvent> TraceReader::overheads() const {
  std::vector<OverheadEvent> events;
  forEachRow(db_.get(), path_, "MOEPROF_OVERHEAD",
             "SELECT o.start, o.end, o.globalTid, s.value FROM MOEPROF_OVERHEAD o "
             "LEFT JOIN StringIds s ON s.id = o.kindId ORDER BY o.start, o.rowid",
             [&](const RowReader& row) {
               events.push_back({row.i64(0), row.i64(1), row.u64(2), row.text(3)});
             });
  return events;
}

std::vector<CacheEvent> TraceReader::cache() const {
  std::vector<CacheEvent> events;
  forEachRow(db_.get(), path_, "MOEPROF_CACHE",
             "SELECT timestamp, batch, moeLayer, expert, slot, action, transferId "
             "FROM MOEPROF_CACHE ORDER BY timestamp, rowid",
             [&](const RowReader& row) {
               CacheEvent& event = events.emplace_back();
               event.timestampNs = row.i64(0);
               event.batch = row.narrow<uint32_t>(1);
               event.moeLayer = row.narrow<uint32_t>(2);
               event.expert = row.narrow<uint32_t>(3);
               event.slot = row.narrow<int32_t>(4);
               event.action = row.enumeration<CacheAction>(5, CacheAction::Prefetch);
               event.transferId = row.u64(6);
             });
  return events;
}

std::vector<TransferEvent> TraceReader::transfers() const {
  std::vector<TransferEvent> events;
  forEachRow(db_.get(), path_, "MOEPROF_TRANSFERS",
             "SELECT start, end, globalTid, transferId, moeLayer, expert, bytes, source, "
             "destination, prefetch FROM MOEPROF_TRANSFERS ORDER BY start, rowid",
             [&](const RowReader& row) {
               TransferEvent& event = events.emplace_back();
               event.startNs = row.i64(0);
               event.endNs = row.i64(1);
               event.threadId = row.u64(2);
               event.transferId = row.u64(3);
               event.moeLayer = row.narrow<uint32_t>(4);
               event.expert = row.narrow<uint32_t>(5);
               event.bytes = row.i64(6);
               event.source = row.enumeration<MemoryTier>(7, MemoryTier::Device);
               event.destination = row.enumeration<MemoryTier>(8, MemoryTier::Device);
               event.prefetch = row.i64(9) != 0;
             });
  return events;
}

std::vector<SourceStats> TraceReader::sources() const {
  std::vector<SourceStats> stats;
  forEachRow(db_.get(), path_, "MOEPROF_SOURCES",
             "SELECT source, events, dropped, overheadNs FROM MOEPROF_SOURCES ORDER BY source",
             [&](const RowReader& row) {
               stats.push_back({row.text(0), row.i64(1), row.i64(2), row.i64(3)});
             });
  return stats;
}

}  // namespace moeprof::collector
