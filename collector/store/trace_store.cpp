#include "collector/store/trace_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "collector/errors.h"
#include "collector/store/sqlite_statement.h"

namespace moeprof::collector {

namespace {

using sqlite::Connection;
using sqlite::exec;
using sqlite::SqliteError;
using sqlite::Statement;

// The kernel's id of the current boot. CLOCK_MONOTONIC counts from the boot, so two stores with
// the same id have comparable times (what a multi-rank export relies on); empty when /proc does
// not say.
std::string bootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

// Column names follow Nsight Systems' export where the tables overlap; see
// collector/store/TRACE_STORE.md. The CUPTI and TARGET_INFO_GPU tables stay empty until GPU sources
// fill them.
constexpr const char* kSchemaSql = R"sql(
CREATE TABLE META (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL,
  rangeId INTEGER, category INTEGER, color INTEGER, text TEXT, globalTid INTEGER,
  endGlobalTid INTEGER, textId INTEGER REFERENCES StringIds(id),
  domainId INTEGER REFERENCES StringIds(id));
CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INTEGER NOT NULL, end INTEGER NOT NULL,
  deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL,
  correlationId INTEGER, globalPid INTEGER, demangledName INTEGER REFERENCES StringIds(id),
  shortName INTEGER REFERENCES StringIds(id), gridX INTEGER, gridY INTEGER, gridZ INTEGER,
  blockX INTEGER, blockY INTEGER, blockZ INTEGER, registersPerThread INTEGER,
  staticSharedMemory INTEGER, dynamicSharedMemory INTEGER);
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER NOT NULL, end INTEGER NOT NULL,
  deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL,
  correlationId INTEGER, globalPid INTEGER, bytes INTEGER NOT NULL, copyKind INTEGER NOT NULL,
  srcKind INTEGER, dstKind INTEGER, srcDeviceId INTEGER, dstDeviceId INTEGER);
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (start INTEGER NOT NULL, end INTEGER NOT NULL,
  deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL,
  correlationId INTEGER, globalPid INTEGER, value INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start INTEGER NOT NULL, end INTEGER NOT NULL,
  eventClass INTEGER NOT NULL, globalTid INTEGER, correlationId INTEGER,
  nameId INTEGER REFERENCES StringIds(id), returnValue INTEGER NOT NULL, callchainId INTEGER);
CREATE TABLE TARGET_INFO_GPU (id INTEGER NOT NULL, name TEXT, busLocation TEXT,
  totalMemory INTEGER, memoryBandwidth INTEGER, clockRate INTEGER, smCount INTEGER,
  computeMajor INTEGER, computeMinor INTEGER);
CREATE TABLE MOEPROF_OPERATORS (start INTEGER NOT NULL, end INTEGER NOT NULL,
  globalTid INTEGER NOT NULL, nameId INTEGER REFERENCES StringIds(id),
  sequenceNr INTEGER NOT NULL, depth INTEGER NOT NULL, correlationId INTEGER NOT NULL);
CREATE TABLE MOEPROF_MEMORY (timestamp INTEGER NOT NULL, globalTid INTEGER NOT NULL,
  deviceType INTEGER NOT NULL, deviceId INTEGER NOT NULL, bytes INTEGER NOT NULL,
  totalAllocated INTEGER NOT NULL, totalReserved INTEGER NOT NULL, address INTEGER NOT NULL);
CREATE TABLE MOEPROF_ROUTING (timestamp INTEGER NOT NULL, batch INTEGER NOT NULL,
  moeLayer INTEGER NOT NULL, step INTEGER NOT NULL, tokens INTEGER NOT NULL,
  tokensPerExpert BLOB NOT NULL);
CREATE TABLE MOEPROF_EXTERNAL_CORRELATION (correlationId INTEGER NOT NULL,
  externalId INTEGER NOT NULL);
CREATE TABLE MOEPROF_OVERHEAD (start INTEGER NOT NULL, end INTEGER NOT NULL,
  globalTid INTEGER NOT NULL, kindId INTEGER REFERENCES StringIds(id));
CREATE TABLE MOEPROF_CACHE (timestamp INTEGER NOT NULL, batch INTEGER NOT NULL,
  moeLayer INTEGER NOT NULL, expert INTEGER NOT NULL, slot INTEGER NOT NULL,
  action INTEGER NOT NULL, transferId INTEGER NOT NULL);
CREATE TABLE MOEPROF_TRANSFERS (start INTEGER NOT NULL, end INTEGER NOT NULL,
  globalTid INTEGER NOT NULL, transferId INTEGER NOT NULL, moeLayer INTEGER NOT NULL,
  expert INTEGER NOT NULL, bytes INTEGER NOT NULL, source INTEGER NOT NULL,
  destination INTEGER NOT NULL, prefetch INTEGER NOT NULL);
CREATE TABLE MOEPROF_SOURCES (source TEXT PRIMARY KEY, events INTEGER NOT NULL,
  dropped INTEGER NOT NULL, overheadNs INTEGER NOT NULL);
)sql";

// Indexes on time, built when the writer closes: one pass over sorted data costs less than
// keeping them up to date on every insert. A store left by a killed run has none; it reads the
// same, only slower to query.
constexpr const char* kIndexSql = R"sql(
CREATE INDEX IF NOT EXISTS NVTX_EVENTS_start ON NVTX_EVENTS(start);
CREATE INDEX IF NOT EXISTS CUPTI_ACTIVITY_KIND_KERNEL_start ON CUPTI_ACTIVITY_KIND_KERNEL(start);
CREATE INDEX IF NOT EXISTS CUPTI_ACTIVITY_KIND_MEMCPY_start ON CUPTI_ACTIVITY_KIND_MEMCPY(start);
CREATE INDEX IF NOT EXISTS CUPTI_ACTIVITY_KIND_MEMSET_start ON CUPTI_ACTIVITY_KIND_MEMSET(start);
CREATE INDEX IF NOT EXISTS MOEPROF_OPERATORS_start ON MOEPROF_OPERATORS(start);
CREATE INDEX IF NOT EXISTS MOEPROF_MEMORY_timestamp ON MOEPROF_MEMORY(timestamp);
CREATE INDEX IF NOT EXISTS CUPTI_ACTIVITY_KIND_RUNTIME_start ON CUPTI_ACTIVITY_KIND_RUNTIME(start);
CREATE INDEX IF NOT EXISTS MOEPROF_ROUTING_timestamp ON MOEPROF_ROUTING(timestamp);
CREATE INDEX IF NOT EXISTS MOEPROF_EXTERNAL_CORRELATION_correlationId
  ON MOEPROF_EXTERNAL_CORRELATION(correlationId);
CREATE INDEX IF NOT EXISTS MOEPROF_OVERHEAD_start ON MOEPROF_OVERHEAD(start);
CREATE INDEX IF NOT EXISTS MOEPROF_CACHE_timestamp ON MOEPROF_CACHE(timestamp);
CREATE INDEX IF NOT EXISTS MOEPROF_TRANSFERS_start ON MOEPROF_TRANSFERS(start);
)sql";

// tokensPerExpert as a little-endian u32 array, by shifts so that it does not depend on the
// host byte order.
std::string encodeU32s(const std::vector<uint32_t>& values) {
  std::string bytes;
  bytes.reserve(values.size() * 4);
  for (uint32_t value : values) {
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back(static_cast<char>(value >> shift));
  }
  return bytes;
}

// The name without its parameter list, as nsys's shortName ("void at::foo<float>(int)" keeps
// "void at::foo<float>").
std::string shortKernelName(const std::string& name) {
  size_t paren = name.find('(');
  return paren == std::string::npos ? name : name.substr(0, paren);
}

// Creates the file exclusively (O_EXCL): two runs writing into one store, or a run overwriting
// an old trace, must fail rather than mix or lose events.
void createExclusively(const std::filesystem::path& path) {
  for (const char* suffix : {"-wal", "-journal"}) {
    // A leftover WAL would be replayed into the new database by SQLite.
    std::filesystem::path sidecar = path.string() + suffix;
    if (std::filesystem::exists(sidecar)) {
      throw std::runtime_error("trace store " + path.string() + ": a leftover " + sidecar.string() +
                               " exists; remove it or choose a new directory");
    }
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    int error = errno;
    if (error == EEXIST) {
      throw std::runtime_error("trace store " + path.string() +
                               " already exists; each run needs a new run directory");
    }
    throw std::runtime_error("trace store " + path.string() +
                             ": cannot create: " + std::strerror(error));
  }
  ::close(fd);
}

// Rows per multi-row INSERT: one statement step for 64 rows costs far less than 64 steps.
constexpr size_t kRowsPerInsert = 64;

// A table the writer fills: a one-row and a 64-row INSERT, both prepared once.
struct TableInsert {
  Statement one;
  Statement many;

  TableInsert() = default;
  TableInsert(sqlite3* db, const std::string& table, const std::vector<const char*>& columns) {
    std::string names;
    std::string row = "(";
    for (size_t i = 0; i < columns.size(); ++i) {
      names += (i ? ", " : "") + std::string(columns[i]);
      row += i ? ", ?" : "?";
    }
    row += ")";
    std::string sql = "INSERT INTO " + table + "(" + names + ") VALUES" + row;
    one = Statement(db, sql.c_str());
    for (size_t i = 1; i < kRowsPerInsert; ++i) sql += "," + row;
    many = Statement(db, sql.c_str());
  }
};

// Everything queued since the last commit, by type so that each table takes its rows in
// multi-row INSERTs. Within a type, the order of append() is kept.
void clearKeepingCapacity(Trace& trace) {
  trace.meta.clear();
  trace.operators.clear();
  trace.ranges.clear();
  trace.memory.clear();
  trace.kernels.clear();
  trace.memcpys.clear();
  trace.memsets.clear();
  trace.apiCalls.clear();
  trace.correlations.clear();
  trace.overheads.clear();
  trace.routing.clear();
  trace.cache.clear();
  trace.transfers.clear();
  trace.sources.clear();
}

}  // namespace

// The writer's state: the queue shared with append(), and the connection, statements and
// string table that only the writer thread touches once it runs.
class TraceWriter::Impl {
 public:
  Impl(const std::filesystem::path& file, std::chrono::milliseconds flushInterval,
       int64_t maxFileBytes);
  ~Impl();

  // Queues one item into `queue_.*member` (meta entries and source stats count as items but
  // not as events).
  template <typename Item>
  void push(std::vector<Item> Trace::*member, Item item);
  void pushAll(std::vector<OperatorEvent> events);
  void pushMeta(const std::string& key, const std::string& value);
  void flush();
  void close();
  Stats stats() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  void checkOpen();  // mutex_ held
  void queued();     // mutex_ held
  void createSchema(int64_t maxFileBytes);
  void prepareInserts();
  void run();
  std::string writeBatch(const Trace& batch);
  void insertBatch(const Trace& batch);
  template <typename Event>
  void insertAll(const std::vector<Event>& events, TableInsert& table);
  void bindRow(Statement& row, const OperatorEvent& event);
  void bindRow(Statement& row, const RangeEvent& event);
  void bindRow(Statement& row, const MemoryEvent& event);
  void bindRow(Statement& row, const KernelEvent& event);
  void bindRow(Statement& row, const MemcpyEvent& event);
  void bindRow(Statement& row, const MemsetEvent& event);
  void bindRow(Statement& row, const ApiEvent& event);
  void bindRow(Statement& row, const CorrelationEvent& event);
  void bindRow(Statement& row, const OverheadEvent& event);
  void bindRow(Statement& row, const RoutingEvent& event);
  void bindRow(Statement& row, const CacheEvent& event);
  void bindRow(Statement& row, const TransferEvent& event);
  void insertMeta(const std::string& key, const std::string& value);
  int64_t intern(const std::string& text);
  void throwIfFailed(bool fromAppend = false);  // mutex_ held
  void closeDatabase();
  void leaveWalMode();

  std::filesystem::path path_;
  std::chrono::milliseconds flushInterval_;
  Connection db_;  // before the statements, which must be finalized first
  TableInsert operators_, ranges_, memory_, kernels_, memcpys_, memsets_, apiCalls_, correlations_,
      overheads_, routing_, cache_, transfers_;
  Statement insertSource_, insertMeta_, insertString_;
  // After a failed transaction nothing more is written, so ids handed out in it never need to
  // be taken back.
  std::unordered_map<std::string, int64_t> stringIds_;
  int64_t nextStringId_ = 1;

  mutable std::mutex mutex_;
  std::condition_variable wake_;       // the writer thread waits on it
  std::condition_variable committed_;  // flush() waits on it
  Trace queue_;
  size_t queueSize_ = 0;         // items in queue_
  size_t queueEvents_ = 0;       // of those, events
  uint64_t queuedItems_ = 0;     // items ever queued
  uint64_t committedItems_ = 0;  // of those, items the writer thread has finished with
  bool flushRequested_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  std::string error_;           // the writer thread's first failure; empty when none
  bool errorReported_ = false;  // by flush() or close()
  Stats stats_;
  std::thread thread_;
};

TraceWriter::Impl::Impl(const std::filesystem::path& file, std::chrono::milliseconds flushInterval,
                        int64_t maxFileBytes)
    : path_(file), flushInterval_(flushInterval) {
  if (flushInterval_.count() <= 0) {
    throw InputError("trace store " + path_.string() + ": flush interval must be positive, got " +
                     std::to_string(flushInterval_.count()) + " ms");
  }
  createExclusively(path_);
  try {
    createSchema(maxFileBytes);
    prepareInserts();
  } catch (const SqliteError& error) {
    closeDatabase();
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_.string() + suffix, ignored);  // we created them just now
    }
    throw std::runtime_error("trace store " + path_.string() + ": cannot create: " + error.what());
  }
  thread_ = std::thread([this] { run(); });
}

TraceWriter::Impl::~Impl() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
}

void TraceWriter::Impl::createSchema(int64_t maxFileBytes) {
  // NOMUTEX: only one thread at a time uses this connection (the constructor's, then the
  // writer thread), so SQLite need not lock on every bind.
  db_ = sqlite::openConnection(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  sqlite3* db = db_.get();
  // WAL with synchronous=NORMAL: a commit is one append to the WAL (no fsync per transaction),
  // and a committed transaction survives a killed process (not a power loss).
  // 64 KiB pages and a 64 MiB cache: fewer, larger B-tree pages for an append-only store (the
  // sustained insert rate rose from 0.76M to 0.95M events/s with them); the WAL is checkpointed
  // every 1024 pages (64 MiB) instead of every 4 MiB.
  exec(db, "PRAGMA page_size=65536");
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, "PRAGMA synchronous=NORMAL");
  exec(db, "PRAGMA cache_size=-65536");
  exec(db, "PRAGMA wal_autocheckpoint=1024");
  if (maxFileBytes > 0) {
    Statement pageSize(db, "PRAGMA page_size");
    pageSize.next();
    int64_t pages = std::max<int64_t>(1, maxFileBytes / sqlite3_column_int64(pageSize.get(), 0));
    exec(db, ("PRAGMA max_page_count=" + std::to_string(pages)).c_str());
  }
  exec(db, "BEGIN");
  exec(db, kSchemaSql);
  insertMeta_ = Statement(db, "INSERT OR REPLACE INTO META(key, value) VALUES(?, ?)");
  insertMeta("schema_version", std::to_string(kTraceSchemaVersion));
  insertMeta("clock", "CLOCK_MONOTONIC");
  if (std::string boot = bootId(); !boot.empty()) insertMeta("boot_id", boot);
  insertMeta("time_unit", "ns");
  exec(db, "COMMIT");
}

void TraceWriter::Impl::prepareInserts() {
  sqlite3* db = db_.get();
  operators_ =
      TableInsert(db, "MOEPROF_OPERATORS",
                  {"start", "end", "globalTid", "nameId", "sequenceNr", "depth", "correlationId"});
  ranges_ = TableInsert(db, "NVTX_EVENTS",
                        {"start", "end", "eventType", "globalTid", "textId", "domainId"});
  memory_ = TableInsert(db, "MOEPROF_MEMORY",
                        {"timestamp", "globalTid", "deviceType", "deviceId", "bytes",
                         "totalAllocated", "totalReserved", "address"});
  kernels_ =
      TableInsert(db, "CUPTI_ACTIVITY_KIND_KERNEL",
                  {"start", "end", "deviceId", "contextId", "streamId", "correlationId",
                   "demangledName", "shortName", "gridX", "gridY", "gridZ", "blockX", "blockY",
                   "blockZ", "registersPerThread", "staticSharedMemory", "dynamicSharedMemory"});
  memcpys_ = TableInsert(db, "CUPTI_ACTIVITY_KIND_MEMCPY",
                         {"start", "end", "deviceId", "contextId", "streamId", "correlationId",
                          "bytes", "copyKind", "srcKind", "dstKind", "srcDeviceId", "dstDeviceId"});
  memsets_ = TableInsert(
      db, "CUPTI_ACTIVITY_KIND_MEMSET",
      {"start", "end", "deviceId", "contextId", "streamId", "correlationId", "value", "bytes"});
  apiCalls_ = TableInsert(
      db, "CUPTI_ACTIVITY_KIND_RUNTIME",
      {"start", "end", "eventClass", "globalTid", "correlationId", "nameId", "returnValue"});
  correlations_ = TableInsert(db, "MOEPROF_EXTERNAL_CORRELATION", {"correlationId", "externalId"});
  overheads_ = TableInsert(db, "MOEPROF_OVERHEAD", {"start", "end", "globalTid", "kindId"});
  routing_ = TableInsert(db, "MOEPROF_ROUTING",
                         {"timestamp", "batch", "moeLayer", "step", "tokens", "tokensPerExpert"});
  cache_ =
      TableInsert(db, "MOEPROF_CACHE",
                  {"timestamp", "batch", "moeLayer", "expert", "slot", "action", "transferId"});
  transfers_ = TableInsert(db, "MOEPROF_TRANSFERS",
                           {"start", "end", "globalTid", "transferId", "moeLayer", "expert",
                            "bytes", "source", "destination", "prefetch"});
  insertSource_ = Statement(db,
                            "INSERT OR REPLACE INTO MOEPROF_SOURCES(source, events, dropped, "
                            "overheadNs) VALUES(?, ?, ?, ?)");
  insertString_ = Statement(db, "INSERT INTO StringIds(id, value) VALUES(?, ?)");
}

void TraceWriter::Impl::throwIfFailed(bool fromAppend) {
  if (error_.empty()) return;
  // Sources call append() from callbacks that must swallow errors (an allocator's free runs
  // in noexcept code), so only flush() and close() count as having told the caller.
  if (!fromAppend) errorReported_ = true;
  throw std::runtime_error(error_);
}

void TraceWriter::Impl::checkOpen() {
  throwIfFailed(/*fromAppend=*/true);
  if (closed_) throw std::runtime_error("trace store " + path_.string() + " is already closed");
}

void TraceWriter::Impl::queued() {
  ++queuedItems_;
  // Once per filling: the writer rechecks the size before it sleeps, so none is missed.
  if (++queueSize_ == kTraceFlushEvents) wake_.notify_one();
}

template <typename Item>
void TraceWriter::Impl::push(std::vector<Item> Trace::*member, Item item) {
  std::lock_guard lock(mutex_);
  checkOpen();
  (queue_.*member).push_back(std::move(item));
  if constexpr (!std::is_same_v<Item, SourceStats>) ++queueEvents_;
  queued();
}

void TraceWriter::Impl::pushAll(std::vector<OperatorEvent> events) {
  std::lock_guard lock(mutex_);
  checkOpen();
  auto& operators = queue_.operators;
  std::move(events.begin(), events.end(), std::back_inserter(operators));
  queueEvents_ += events.size();
  queuedItems_ += events.size();
  size_t before = queueSize_;
  queueSize_ += events.size();
  // Once per filling, as in queued().
  if (before < kTraceFlushEvents && queueSize_ >= kTraceFlushEvents) wake_.notify_one();
}

void TraceWriter::Impl::pushMeta(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  checkOpen();
  queue_.meta[key] = value;
  queued();
}

void TraceWriter::Impl::flush() {
  std::unique_lock lock(mutex_);
  throwIfFailed();
  if (closed_) return;  // close() committed everything
  uint64_t target = queuedItems_;
  flushRequested_ = true;
  wake_.notify_one();
  committed_.wait(lock, [&] { return committedItems_ >= target || !error_.empty(); });
  throwIfFailed();
}

void TraceWriter::Impl::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  std::lock_guard lock(mutex_);
  if (error_.empty()) {
    try {
      exec(db_.get(), kIndexSql);
    } catch (const SqliteError& error) {
      error_ = "trace store " + path_.string() + ": cannot index the events (" + error.what() +
               "); the events are kept";
    }
  }
  leaveWalMode();
  closeDatabase();
  if (!errorReported_) throwIfFailed();
}

// A finished store goes back to a rollback journal: one self-contained file (no -wal, no -shm)
// that opens read-only anywhere, also where nothing can be written beside it. A reader still
// holding it open keeps it in WAL mode; it then reads as before.
void TraceWriter::Impl::leaveWalMode() {
  if (!db_) return;
  try {
    exec(db_.get(), "PRAGMA wal_checkpoint(TRUNCATE)");
    exec(db_.get(), "PRAGMA journal_mode=DELETE");
  } catch (const SqliteError&) {
  }
}

void TraceWriter::Impl::closeDatabase() {
  for (TableInsert* table :
       {&operators_, &ranges_, &memory_, &kernels_, &memcpys_, &memsets_, &apiCalls_,
        &correlations_, &overheads_, &routing_, &cache_, &transfers_}) {
    *table = TableInsert();
  }
  for (Statement* statement : {&insertSource_, &insertMeta_, &insertString_}) {
    *statement = Statement();
  }
  db_.reset();  // the last connection checkpoints the WAL into the database and removes it
}

TraceWriter::Stats TraceWriter::Impl::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

// The writer thread: wakes every flushInterval (or when asked), takes the whole queue and
// commits it in one transaction with the mutex released, so append() never waits on the disk.
void TraceWriter::Impl::run() {
  Trace batch;
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait_for(lock, flushInterval_, [this] {
      return stopping_ || flushRequested_ || queueSize_ >= kTraceFlushEvents;
    });
    flushRequested_ = false;
    bool stop = stopping_;
    bool failed = !error_.empty();
    std::swap(batch, queue_);  // the queue keeps the emptied batch's capacity
    size_t items = std::exchange(queueSize_, 0);
    size_t events = std::exchange(queueEvents_, 0);
    uint64_t through = queuedItems_;
    lock.unlock();
    bool write = items > 0 && !failed;  // after a failure, queued items are dropped
    std::string error = write ? writeBatch(batch) : "";
    clearKeepingCapacity(batch);
    lock.lock();
    if (!error.empty()) {
      error_ = error;
    } else if (write) {
      stats_.eventsWritten += static_cast<int64_t>(events);
      ++stats_.transactions;
    }
    committedItems_ = through;
    committed_.notify_all();
    if (stop) return;
  }
}

// Commits `batch` in one transaction; returns "" or the error for the caller to keep. A failed
// transaction is rolled back, so the file keeps everything committed before.
std::string TraceWriter::Impl::writeBatch(const Trace& batch) {
  sqlite3* db = db_.get();
  try {
    exec(db, "BEGIN");
    insertBatch(batch);
    exec(db, "COMMIT");
    return "";
  } catch (const std::exception& error) {
    // A failed COMMIT may or may not have ended the transaction itself.
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    const auto* sqliteError = dynamic_cast<const SqliteError*>(&error);
    bool full = sqliteError != nullptr && (sqliteError->code() & 0xff) == SQLITE_FULL;
    return "trace store " + path_.string() + ": " +
           (full ? "disk full while writing " : "cannot write ") + "a batch of queued events (" +
           error.what() + "); the events before them are kept";
  }
}

void TraceWriter::Impl::insertBatch(const Trace& batch) {
  insertAll(batch.operators, operators_);
  insertAll(batch.ranges, ranges_);
  insertAll(batch.memory, memory_);
  insertAll(batch.kernels, kernels_);
  insertAll(batch.memcpys, memcpys_);
  insertAll(batch.memsets, memsets_);
  insertAll(batch.apiCalls, apiCalls_);
  insertAll(batch.correlations, correlations_);
  insertAll(batch.overheads, overheads_);
  insertAll(batch.routing, routing_);
  insertAll(batch.cache, cache_);
  insertAll(batch.transfers, transfers_);
  for (const SourceStats& stats : batch.sources) {
    insertSource_.bind(stats.source).bind(stats.events).bind(stats.dropped);
    insertSource_.bind(stats.overheadNs).run();
  }
  for (const auto& [key, value] : batch.meta) insertMeta(key, value);
}

template <typename Event>
void TraceWriter::Impl::insertAll(const std::vector<Event>& events, TableInsert& table) {
  size_t i = 0;
  for (; i + kRowsPerInsert <= events.size(); i += kRowsPerInsert) {
    for (size_t j = i; j < i + kRowsPerInsert; ++j) bindRow(table.many, events[j]);
    table.many.run();
  }
  for (; i < events.size(); ++i) {
    bindRow(table.one, events[i]);
    table.one.run();
  }
}

int64_t TraceWriter::Impl::intern(const std::string& text) {
  if (text.empty()) return 0;  // stored as NULL
  auto [it, inserted] = stringIds_.try_emplace(text, nextStringId_);
  if (inserted) {
    insertString_.bind(nextStringId_).bind(text).run();
    ++nextStringId_;
  }
  return it->second;
}

void TraceWriter::Impl::bindRow(Statement& row, const OperatorEvent& event) {
  row.bind(event.startNs).bind(event.endNs).bindUnsigned(event.threadId);
  row.bindIdOrNull(intern(event.name)).bind(event.sequenceNr).bind(event.depth);
  row.bindUnsigned(event.correlationId);
}

void TraceWriter::Impl::bindRow(Statement& row, const RangeEvent& event) {
  row.bind(event.startNs);
  if (event.isMark) {
    row.bindNull().bind(kNvtxMarkEventType);  // nsys leaves a mark's end NULL
  } else {
    row.bind(event.endNs).bind(kNvtxPushPopRangeEventType);
  }
  row.bindUnsigned(event.threadId).bindIdOrNull(intern(event.text));
  row.bindIdOrNull(intern(event.domain));
}

void TraceWriter::Impl::bindRow(Statement& row, const MemoryEvent& event) {
  row.bind(event.timestampNs).bindUnsigned(event.threadId).bind(event.deviceType);
  row.bind(event.deviceIndex).bind(event.bytes).bind(event.totalAllocatedBytes);
  row.bind(event.totalReservedBytes).bindUnsigned(event.address);
}

void TraceWriter::Impl::bindRow(Statement& row, const KernelEvent& event) {
  int64_t nameId = intern(event.name);
  int64_t shortNameId = intern(shortKernelName(event.name));
  row.bind(event.startNs).bind(event.endNs).bind(event.deviceId).bind(event.contextId);
  row.bind(event.streamId).bindUnsigned(event.correlationId).bindIdOrNull(nameId);
  row.bindIdOrNull(shortNameId).bind(event.gridX).bind(event.gridY).bind(event.gridZ);
  row.bind(event.blockX).bind(event.blockY).bind(event.blockZ).bind(event.registersPerThread);
  row.bind(event.staticSharedBytes).bind(event.dynamicSharedBytes);
}

void TraceWriter::Impl::bindRow(Statement& row, const MemcpyEvent& event) {
  row.bind(event.startNs).bind(event.endNs).bind(event.deviceId).bind(event.contextId);
  row.bind(event.streamId).bindUnsigned(event.correlationId).bind(event.bytes);
  row.bind(event.copyKind).bind(event.srcKind).bind(event.dstKind);
  row.bind(event.srcDeviceId).bind(event.dstDeviceId);
}

void TraceWriter::Impl::bindRow(Statement& row, const MemsetEvent& event) {
  row.bind(event.startNs).bind(event.endNs).bind(event.deviceId).bind(event.contextId);
  row.bind(event.streamId).bindUnsigned(event.correlationId).bind(event.value).bind(event.bytes);
}

void TraceWriter::Impl::bindRow(Statement& row, const ApiEvent& event) {
  row.bind(event.startNs).bind(event.endNs).bind(static_cast<int64_t>(event.api));
  row.bindUnsigned(event.threadId).bindUnsigned(event.correlationId);
  row.bindIdOrNull(intern(event.name)).bind(event.returnValue);
}

void TraceWriter::Impl::bindRow(Statement& row, const CorrelationEvent& event) {
  row.bindUnsigned(event.correlationId).bindUnsigned(event.externalId);
}

void TraceWriter::Impl::bindRow(Statement& row, const OverheadEvent& event) {
  row.bind(event.startNs).bind(event.endNs).bindUnsigned(event.threadId);
  row.bindIdOrNull(intern(event.kind));
}

void TraceWriter::Impl::bindRow(Statement& row, const RoutingEvent& event) {
  row.bind(event.timestampNs).bind(event.batch).bind(event.moeLayer).bind(event.step);
  row.bind(event.tokens).bindBlob(encodeU32s(event.tokensPerExpert));
}

void TraceWriter::Impl::bindRow(Statement& row, const CacheEvent& event) {
  row.bind(event.timestampNs).bind(event.batch).bind(event.moeLayer).bind(event.expert);
  row.bind(event.slot).bind(static_cast<int64_t>(event.action)).bindUnsigned(event.transferId);
}

void TraceWriter::Impl::bindRow(Statement& row, const TransferEvent& event) {
  row.bind(event.startNs).bind(event.endNs).bindUnsigned(event.threadId);
  row.bindUnsigned(event.transferId).bind(event.moeLayer).bind(event.expert).bind(event.bytes);
  row.bind(static_cast<int64_t>(event.source)).bind(static_cast<int64_t>(event.destination));
  row.bind(event.prefetch ? 1 : 0);
}

void TraceWriter::Impl::insertMeta(const std::string& key, const std::string& value) {
  insertMeta_.bind(key).bind(value).run();
}

TraceWriter::TraceWriter(const std::filesystem::path& file, std::chrono::milliseconds flushInterval,
                         int64_t maxFileBytes)
    : impl_(std::make_unique<Impl>(file, flushInterval, maxFileBytes)) {}

TraceWriter::~TraceWriter() {
  try {
    impl_->close();
  } catch (const std::exception& error) {
    // A destructor must not throw; saying it beats losing the error silently.
    std::cerr << "moeprof: " << error.what() << '\n';
  }
}

void TraceWriter::append(OperatorEvent event) {
  impl_->push(&Trace::operators, std::move(event));
}
void TraceWriter::append(std::vector<OperatorEvent> events) {
  impl_->pushAll(std::move(events));
}
void TraceWriter::append(RangeEvent event) {
  impl_->push(&Trace::ranges, std::move(event));
}
void TraceWriter::append(const MemoryEvent& event) {
  impl_->push(&Trace::memory, event);
}
void TraceWriter::append(KernelEvent event) {
  impl_->push(&Trace::kernels, std::move(event));
}
void TraceWriter::append(const MemcpyEvent& event) {
  impl_->push(&Trace::memcpys, event);
}
void TraceWriter::append(const MemsetEvent& event) {
  impl_->push(&Trace::memsets, event);
}
void TraceWriter::append(ApiEvent event) {
  impl_->push(&Trace::apiCalls, std::move(event));
}
void TraceWriter::append(const CorrelationEvent& event) {
  impl_->push(&Trace::correlations, event);
}
void TraceWriter::append(OverheadEvent event) {
  impl_->push(&Trace::overheads, std::move(event));
}
void TraceWriter::append(RoutingEvent event) {
  impl_->push(&Trace::routing, std::move(event));
}
void TraceWriter::append(const CacheEvent& event) {
  impl_->push(&Trace::cache, event);
}
void TraceWriter::append(const TransferEvent& event) {
  impl_->push(&Trace::transfers, event);
}
void TraceWriter::append(SourceStats stats) {
  impl_->push(&Trace::sources, std::move(stats));
}
void TraceWriter::setMeta(const std::string& key, const std::string& value) {
  impl_->pushMeta(key, value);
}
void TraceWriter::flush() {
  impl_->flush();
}
void TraceWriter::close() {
  impl_->close();
}
TraceWriter::Stats TraceWriter::stats() const {
  return impl_->stats();
}
const std::filesystem::path& TraceWriter::path() const {
  return impl_->path();
}

}  // namespace moeprof::collector
