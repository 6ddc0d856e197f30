#include "analysis/nsys_import.h"

#include <algorithm>
#include <initializer_list>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "collector/errors.h"
#include "collector/store/cupti_table_rows.h"
#include "collector/store/sqlite_statement.h"

namespace moeprof::analysis {

namespace {

using collector::ApiEvent;
using collector::KernelEvent;
using collector::MemcpyEvent;
using collector::MemoryEvent;
using collector::MemsetEvent;
using collector::RangeEvent;
using collector::Trace;
using collector::sqlite::RowReader;
using collector::sqlite::SqliteError;
using collector::sqlite::Statement;

constexpr const char* kStringIds = "StringIds";
constexpr const char* kNvtxTable = "NVTX_EVENTS";
constexpr const char* kKernelTable = "CUPTI_ACTIVITY_KIND_KERNEL";
constexpr const char* kMemcpyTable = "CUPTI_ACTIVITY_KIND_MEMCPY";
constexpr const char* kMemsetTable = "CUPTI_ACTIVITY_KIND_MEMSET";
constexpr const char* kRuntimeTable = "CUPTI_ACTIVITY_KIND_RUNTIME";
// Not written by current nsys (driver calls share the runtime table, eventClass 1), but some
// tools and older exports keep them apart.
constexpr const char* kDriverTable = "CUPTI_ACTIVITY_KIND_DRIVER";
constexpr const char* kGpuMemoryTable = "CUDA_GPU_MEMORY_USAGE_EVENTS";
constexpr const char* kGpuTable = "TARGET_INFO_GPU";
constexpr const char* kCudaDeviceTable = "TARGET_INFO_CUDA_DEVICE";

// Tables that only nsys writes; StringIds beside one of them identifies an export. StringIds
// alone does not: moeprof's own store has it too (and META, which nsys never writes).
constexpr const char* kNsysTables[] = {
    "META_DATA_EXPORT", "ANALYSIS_DETAILS", "TARGET_INFO_SESSION_START_TIME",
    kNvtxTable,         kKernelTable,       kMemcpyTable,
    kMemsetTable,       kRuntimeTable,      kGpuTable};

constexpr const char* kExpected =
    "expected a moeprof run directory or trace.sqlite, or an Nsight Systems SQLite export "
    "(nsys export --type sqlite)";

// The columns one table has in this export. nsys adds columns over its versions, so queries
// name only the columns that exist and put defaults in for the others.
class Columns {
 public:
  Columns(sqlite3* db, const std::filesystem::path& file, const std::string& table,
          std::string alias)
      : alias_(std::move(alias)) {
    collector::sqlite::forEachRow(db, file, table.c_str(),
                                  ("SELECT name FROM pragma_table_info('" + table + "')").c_str(),
                                  [&](const RowReader& row) { names_.insert(row.text(0)); });
  }

  bool has(const std::string& name) const { return names_.count(name) > 0; }
  // The column, or NULL where the export lacks it.
  std::string raw(const std::string& name) const {
    return has(name) ? alias_ + "." + name : "NULL";
  }
  // For a select list: the column with NULLs replaced by `fallback` (an SQL literal), or the
  // fallback where the export lacks the column.
  std::string get(const std::string& name, const std::string& fallback) const {
    // Named after the column, so that range errors from RowReader name it.
    return (has(name) ? "COALESCE(" + alias_ + "." + name + ", " + fallback + ")" : fallback) +
           " AS " + name;
  }
  // get() for several columns with one fallback, separated by commas.
  std::string list(std::initializer_list<const char*> names, const std::string& fallback) const {
    std::string sql;
    for (const char* name : names) sql += (sql.empty() ? "" : ", ") + get(name, fallback);
    return sql;
  }

 private:
  std::string alias_;
  std::set<std::string> names_;
};

// Reads one export; each reader function leaves the trace as TraceReader would order it.
class NsysReader {
 public:
  explicit NsysReader(const std::filesystem::path& file);
  Trace read();

 private:
  bool has(const char* table) const { return tables_.count(table) > 0; }
  Columns columns(const char* table, const char* alias,
                  std::initializer_list<const char*> required) const;
  template <typename OnRow>
  void rows(const char* table, const std::string& sql, OnRow&& onRow) const {
    collector::sqlite::forEachRow(db_.get(), path_, table, sql.c_str(), onRow);
  }
  uint64_t threadOf(uint64_t globalTid) {
    NsysGlobalId id = unpackNsysGlobalId(globalTid);
    if (id.pid != 0) pids_.insert(id.pid);
    return id.tid;
  }

  std::vector<KernelEvent> kernels() const;
  std::vector<MemcpyEvent> memcpys() const;
  std::vector<MemsetEvent> memsets() const;
  void appendApiCalls(const char* table, int defaultClass, std::vector<ApiEvent>& events);
  std::vector<RangeEvent> ranges();
  std::map<std::pair<uint64_t, int64_t>, std::string> domainNames() const;
  std::vector<MemoryEvent> gpuMemory() const;
  void readMeta(Trace& trace) const;
  void readGpus(Trace& trace) const;

  std::filesystem::path path_;
  collector::sqlite::Connection db_;
  std::set<std::string> tables_;
  std::set<uint32_t> pids_;     // processes seen in thread ids
  int64_t unclosedRanges_ = 0;  // NVTX ranges without an end (the capture stopped first)
  int64_t otherApiRows_ = 0;    // runtime-table rows of other classes (cuBLAS, backtraces, ...)
};

NsysReader::NsysReader(const std::filesystem::path& file) : path_(file) {
  std::error_code ignored;
  if (!std::filesystem::exists(path_, ignored)) {
    throw InputError(path_.string() + " does not exist; " + kExpected);
  }
  if (!std::filesystem::is_regular_file(path_, ignored)) {
    throw InputError(path_.string() + " is not a regular file; " + kExpected);
  }
  try {
    db_ = collector::sqlite::openConnection(path_, SQLITE_OPEN_READONLY);
    Statement list(db_.get(), "SELECT name FROM sqlite_master WHERE type = 'table'");
    while (list.next()) tables_.insert(RowReader(list.get(), path_, "sqlite_master").text(0));
  } catch (const SqliteError& error) {
    if ((error.code() & 0xff) == SQLITE_NOMEM) {
      throw std::runtime_error(path_.string() + ": " + error.what());
    }
    throw InputError(path_.string() + " is not a readable SQLite database (" + error.what() +
                     "); " + kExpected);
  }
  if (has("META")) {
    throw InputError(path_.string() +
                     " is a moeprof trace store (it has a META table), not an Nsight Systems "
                     "export; read it with analysis::loadTrace or collector::TraceReader");
  }
  bool nsysTable = std::any_of(std::begin(kNsysTables), std::end(kNsysTables),
                               [&](const char* table) { return has(table); });
  if (!has(kStringIds) || !nsysTable) {
    throw InputError(path_.string() +
                     " is an SQLite database but neither a moeprof trace store (no META table) "
                     "nor an Nsight Systems export (no StringIds beside META_DATA_EXPORT, "
                     "NVTX_EVENTS or CUPTI_ACTIVITY_KIND_* tables); " +
                     kExpected);
  }
}

Columns NsysReader::columns(const char* table, const char* alias,
                            std::initializer_list<const char*> required) const {
  Columns columns(db_.get(), path_, table, alias);
  for (const char* name : required) {
    if (!columns.has(name)) {
      throw InputError("Nsight Systems export " + path_.string() + ": table " + table +
                       " has no column '" + name + "', which every nsys export has");
    }
  }
  return columns;
}

std::vector<KernelEvent> NsysReader::kernels() const {
  std::vector<KernelEvent> events;
  if (!has(kKernelTable)) return events;
  Columns k = columns(kKernelTable, "k", {"start", "end"});
  // demangledName is the name with template arguments and parameters, as moeprof records it;
  // shortName (the bare function name) only stands in when it is missing.
  std::string sql = "SELECT k.start, k.end, " +
                    k.list({"deviceId", "contextId", "streamId", "correlationId"}, "0") +
                    ", COALESCE(d.value, s.value, ''), " +
                    k.list({"gridX", "gridY", "gridZ", "blockX", "blockY", "blockZ",
                            "registersPerThread", "staticSharedMemory", "dynamicSharedMemory"},
                           "0") +
                    " FROM CUPTI_ACTIVITY_KIND_KERNEL k LEFT JOIN StringIds d ON d.id = " +
                    k.raw("demangledName") +
                    " LEFT JOIN StringIds s ON s.id = " + k.raw("shortName") +
                    " ORDER BY k.start, k.rowid";
  rows(kKernelTable, sql,
       [&](const RowReader& row) { events.push_back(collector::kernelFromRow(row)); });
  return events;
}

std::vector<MemcpyEvent> NsysReader::memcpys() const {
  std::vector<MemcpyEvent> events;
  if (!has(kMemcpyTable)) return events;
  Columns m = columns(kMemcpyTable, "m", {"start", "end"});
  // nsys's copyKind (ENUM_CUDA_MEMCPY_OPER) is CUPTI's numbering, plus 11-13 for unified memory
  // migrations; memory kinds need converting. Kinds missing read as nsys's "unknown" (7).
  std::string sql =
      "SELECT m.start, m.end, " +
      m.list({"deviceId", "contextId", "streamId", "correlationId", "bytes", "copyKind"}, "0") +
      ", " + m.list({"srcKind", "dstKind"}, "7") + ", " +
      m.list({"srcDeviceId", "dstDeviceId"}, "-1") +
      " FROM CUPTI_ACTIVITY_KIND_MEMCPY m ORDER BY m.start, m.rowid";
  rows(kMemcpyTable, sql, [&](const RowReader& row) {
    MemcpyEvent& event = events.emplace_back();
    event.startNs = row.i64(0);
    event.endNs = row.i64(1);
    event.deviceId = row.narrow<uint32_t>(2);
    event.contextId = row.narrow<uint32_t>(3);
    event.streamId = row.narrow<uint32_t>(4);
    event.correlationId = row.u64(5);
    event.bytes = row.i64(6);
    event.copyKind = row.narrow<uint8_t>(7);
    event.srcKind = cuptiMemoryKindFromNsys(row.i64(8));
    event.dstKind = cuptiMemoryKindFromNsys(row.i64(9));
    // nsys fills the device ids for every copy; the event model keeps them for peer copies.
    if (event.copyKind == static_cast<uint8_t>(collector::CopyKind::PeerToPeer)) {
      event.srcDeviceId = row.narrow<int32_t>(10);
      event.dstDeviceId = row.narrow<int32_t>(11);
    }
  });
  return events;
}

std::vector<MemsetEvent> NsysReader::memsets() const {
  std::vector<MemsetEvent> events;
  if (!has(kMemsetTable)) return events;
  Columns m = columns(kMemsetTable, "m", {"start", "end"});
  std::string sql =
      "SELECT m.start, m.end, " +
      m.list({"deviceId", "contextId", "streamId", "correlationId", "value", "bytes"}, "0") +
      " FROM CUPTI_ACTIVITY_KIND_MEMSET m ORDER BY m.start, m.rowid";
  rows(kMemsetTable, sql,
       [&](const RowReader& row) { events.push_back(collector::memsetFromRow(row)); });
  return events;
}

void NsysReader::appendApiCalls(const char* table, int defaultClass,
                                std::vector<ApiEvent>& events) {
  if (!has(table)) return;
  Columns r = columns(table, "r", {"start", "end"});
  std::string sql = "SELECT r.start, r.end, " + r.get("eventClass", std::to_string(defaultClass)) +
                    ", " + r.list({"globalTid", "correlationId", "returnValue"}, "0") +
                    ", COALESCE(s.value, '') FROM " + table +
                    " r LEFT JOIN StringIds s ON s.id = " + r.raw("nameId") +
                    " ORDER BY r.start, r.rowid";
  rows(table, sql, [&](const RowReader& row) {
    int64_t eventClass = row.i64(2);
    if (eventClass != kNsysCudaRuntimeClass && eventClass != kNsysCudaDriverClass &&
        eventClass != kNsysCudaEglDriverClass) {
      ++otherApiRows_;
      return;
    }
    ApiEvent& event = events.emplace_back();
    event.startNs = row.i64(0);
    event.endNs = row.i64(1);
    event.api =
        eventClass == kNsysCudaRuntimeClass ? ApiEvent::Api::Runtime : ApiEvent::Api::Driver;
    event.threadId = threadOf(row.u64(3));
    event.correlationId = row.u64(4);
    event.returnValue = row.narrow<int32_t>(5);
    event.name = row.text(6);
  });
}

// NVTX domains are numbered per process; NvtxDomainCreate rows name them.
std::map<std::pair<uint64_t, int64_t>, std::string> NsysReader::domainNames() const {
  std::map<std::pair<uint64_t, int64_t>, std::string> names;
  Columns n = columns(kNvtxTable, "n", {"start", "eventType"});
  if (!n.has("domainId")) return names;
  std::string sql = "SELECT " + n.get("globalTid", "0") + ", n.domainId, COALESCE(" +
                    n.raw("text") + ", t.value, '') FROM NVTX_EVENTS n LEFT JOIN StringIds t ON " +
                    "t.id = " + n.raw("textId") +
                    " WHERE n.eventType = " + std::to_string(kNsysNvtxDomainCreate) +
                    " ORDER BY n.start, n.rowid";
  rows(kNvtxTable, sql, [&](const RowReader& row) {
    names.emplace(std::pair(row.u64(0) >> 24, row.i64(1)), row.text(2));
  });
  return names;
}

std::vector<RangeEvent> NsysReader::ranges() {
  std::vector<RangeEvent> events;
  if (!has(kNvtxTable)) return events;
  auto domains = domainNames();
  Columns n = columns(kNvtxTable, "n", {"start", "eventType"});
  // Unregistered strings are in `text`; registered ones (nvtxDomainRegisterString) in `textId`.
  std::string end = n.raw("end");
  std::string sql = "SELECT n.start, " + end + ", n.eventType, " + n.get("globalTid", "0") +
                    ", COALESCE(" + n.raw("text") + ", t.value, ''), " + n.get("domainId", "0") +
                    " FROM NVTX_EVENTS n LEFT JOIN StringIds t ON t.id = " + n.raw("textId") +
                    " WHERE n.eventType IN (34, 59, 60, 70, 71) ORDER BY n.start, COALESCE(" + end +
                    ", n.start) DESC, n.rowid";
  rows(kNvtxTable, sql, [&](const RowReader& row) {
    bool isMark = row.i64(2) == kNsysNvtxMark;
    if (!isMark && row.isNull(1)) {
      ++unclosedRanges_;
      return;
    }
    RangeEvent& event = events.emplace_back();
    event.startNs = row.i64(0);
    event.endNs = row.isNull(1) ? event.startNs : row.i64(1);
    event.isMark = isMark;
    uint64_t globalTid = row.u64(3);
    event.threadId = threadOf(globalTid);
    event.text = row.text(4);
    int64_t domainId = row.i64(5);
    if (domainId != 0) {
      auto found = domains.find({globalTid >> 24, domainId});
      event.domain = found != domains.end() ? found->second : "domain " + std::to_string(domainId);
    }
  });
  return events;
}

// Allocations and frees of GPU memory (nsys --cuda-memory-usage=true), with running totals per
// device computed here: nsys records only each operation's size.
std::vector<MemoryEvent> NsysReader::gpuMemory() const {
  std::vector<MemoryEvent> events;
  if (!has(kGpuMemoryTable)) return events;
  Columns m = columns(kGpuMemoryTable, "m", {"start", "bytes", "memoryOperationType"});
  std::string sql = "SELECT m.start, " + m.list({"deviceId", "address"}, "0") +
                    ", m.bytes, m.memoryOperationType FROM CUDA_GPU_MEMORY_USAGE_EVENTS m "
                    "ORDER BY m.start, m.rowid";
  std::map<int8_t, int64_t> totals;
  rows(kGpuMemoryTable, sql, [&](const RowReader& row) {
    int64_t operation = row.i64(4);  // ENUM_CUDA_DEV_MEM_EVENT_OPER: 0 allocation, 1 free
    if (operation != 0 && operation != 1) return;
    MemoryEvent& event = events.emplace_back();
    event.timestampNs = row.i64(0);
    event.deviceType = 1;  // CUDA
    event.deviceIndex = row.narrow<int8_t>(1);
    event.address = row.u64(2);
    event.bytes = operation == 0 ? row.i64(3) : -row.i64(3);
    int64_t& total = totals[event.deviceIndex];
    total += event.bytes;
    // Driver-level allocations: nothing is cached, so what is reserved is what is allocated.
    event.totalAllocatedBytes = total;
    event.totalReservedBytes = total;
  });
  return events;
}

void NsysReader::readMeta(Trace& trace) const {
  trace.meta["source"] = "nsys";
  trace.meta["time_unit"] = "ns";
  trace.meta["clock"] = "nsys session clock, from the start of the capture";
  if (has("META_DATA_EXPORT")) {
    rows("META_DATA_EXPORT", "SELECT name, value FROM META_DATA_EXPORT ORDER BY rowid",
         [&](const RowReader& row) { trace.meta["nsys." + row.text(0)] = row.text(1); });
  }
  if (has("TARGET_INFO_SESSION_START_TIME")) {
    Columns s = columns("TARGET_INFO_SESSION_START_TIME", "s", {});
    if (s.has("utcEpochNs")) {
      rows("TARGET_INFO_SESSION_START_TIME",
           "SELECT s.utcEpochNs FROM TARGET_INFO_SESSION_START_TIME s LIMIT 1",
           [&](const RowReader& row) {
             trace.meta["nsys.session_start_utc_ns"] = std::to_string(row.i64(0));
           });
    }
  }
  if (has("ThreadNames")) {
    rows("ThreadNames",
         "SELECT t.globalTid, s.value FROM ThreadNames t JOIN StringIds s ON s.id = t.nameId "
         "ORDER BY t.rowid",
         [&](const RowReader& row) {
           uint32_t tid = unpackNsysGlobalId(row.u64(0)).tid;
           trace.meta["thread_name." + std::to_string(tid)] = row.text(1);
         });
  }
}

// GPU properties as "gpu.<CUDA device>.<key>". TARGET_INFO_GPU numbers GPUs its own way;
// TARGET_INFO_CUDA_DEVICE (or, in older exports, the cuDevice column) gives the CUDA device id
// that the activity tables' deviceId uses.
void NsysReader::readGpus(Trace& trace) const {
  if (!has(kGpuTable)) return;
  std::map<int64_t, int64_t> cudaIdOf;
  if (has(kCudaDeviceTable)) {
    Columns c = columns(kCudaDeviceTable, "c", {});
    if (c.has("gpuId") && c.has("cudaId")) {
      rows(kCudaDeviceTable,
           "SELECT c.gpuId, MIN(c.cudaId) FROM TARGET_INFO_CUDA_DEVICE c GROUP BY c.gpuId",
           [&](const RowReader& row) { cudaIdOf[row.i64(0)] = row.i64(1); });
    }
  }
  Columns g = columns(kGpuTable, "g", {"id"});
  std::string sql = "SELECT g.id, " + g.get("cuDevice", "-1") + ", " +
                    g.list({"name", "busLocation", "uuid"}, "''") + ", " +
                    g.list({"totalMemory", "smCount", "memoryBandwidth", "clockRate"}, "0") + ", " +
                    g.list({"computeMajor", "computeMinor"}, "-1") +
                    " FROM TARGET_INFO_GPU g ORDER BY g.id, g.rowid";
  std::set<int64_t> seen;
  rows(kGpuTable, sql, [&](const RowReader& row) {
    int64_t id = row.i64(0);
    auto mapped = cudaIdOf.find(id);
    int64_t index = mapped != cudaIdOf.end() ? mapped->second : row.i64(1) >= 0 ? row.i64(1) : id;
    if (!seen.insert(index).second) return;
    std::string prefix = "gpu." + std::to_string(index) + ".";
    auto text = [&](const char* key, int column) {
      if (!row.text(column).empty()) trace.meta[prefix + key] = row.text(column);
    };
    auto number = [&](const char* key, int column) {
      if (row.i64(column) > 0) trace.meta[prefix + key] = std::to_string(row.i64(column));
    };
    text("name", 2);
    text("bus_location", 3);
    text("uuid", 4);
    number("total_memory_bytes", 5);
    number("sm_count", 6);
    number("memory_bandwidth_bytes_per_s", 7);
    number("clock_rate_hz", 8);
    if (row.i64(9) >= 0 && row.i64(10) >= 0) {
      trace.meta[prefix + "compute_capability"] =
          std::to_string(row.i64(9)) + "." + std::to_string(row.i64(10));
    }
  });
  trace.meta["gpu.count"] = std::to_string(seen.size());
}

Trace NsysReader::read() {
  Trace trace;
  readMeta(trace);
  readGpus(trace);
  trace.ranges = ranges();
  trace.kernels = kernels();
  trace.memcpys = memcpys();
  trace.memsets = memsets();
  appendApiCalls(kRuntimeTable, kNsysCudaRuntimeClass, trace.apiCalls);
  if (has(kDriverTable)) {
    appendApiCalls(kDriverTable, kNsysCudaDriverClass, trace.apiCalls);
    std::stable_sort(trace.apiCalls.begin(), trace.apiCalls.end(),
                     [](const ApiEvent& a, const ApiEvent& b) { return a.startNs < b.startNs; });
  }
  trace.memory = gpuMemory();
  if (!pids_.empty()) {
    std::string pids;
    for (uint32_t pid : pids_) pids += (pids.empty() ? "" : ",") + std::to_string(pid);
    trace.meta["nsys.pids"] = pids;
  }
  if (unclosedRanges_ > 0) {
    trace.meta["nsys.unclosed_nvtx_ranges"] = std::to_string(unclosedRanges_);
  }
  if (otherApiRows_ > 0) trace.meta["nsys.other_api_rows"] = std::to_string(otherApiRows_);
  return trace;
}

}  // namespace

NsysGlobalId unpackNsysGlobalId(uint64_t globalId) {
  return {static_cast<uint32_t>(globalId >> 56), static_cast<uint32_t>((globalId >> 48) & 0xff),
          static_cast<uint32_t>((globalId >> 24) & 0xffffff),
          static_cast<uint32_t>(globalId & 0xffffff)};
}

uint8_t cuptiMemoryKindFromNsys(int64_t nsysMemoryKind) {
  // nsys 0..6 = pageable, pinned, device, array, managed, device static, managed static, which
  // CUPTI numbers 1..7; anything else (nsys's 7) is unknown, CUPTI's 0.
  return nsysMemoryKind >= 0 && nsysMemoryKind <= 6 ? static_cast<uint8_t>(nsysMemoryKind + 1) : 0;
}

collector::Trace importNsysExport(const std::filesystem::path& file) {
  return NsysReader(file).read();
}

}  // namespace moeprof::analysis
