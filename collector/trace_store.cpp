#include "collector/trace_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>

#include "collector/errors.h"
#include "collector/sqlite_statement.h"

namespace moeprof::collector {

namespace {

using sqlite::Connection;
using sqlite::exec;
using sqlite::SqliteError;
using sqlite::Statement;

// Column names follow Nsight Systems' export where the tables overlap; see TRACE_STORE.md.
// The CUPTI and TARGET_INFO_GPU tables stay empty until GPU sources fill them.
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
CREATE INDEX NVTX_EVENTS_start ON NVTX_EVENTS(start);
CREATE INDEX CUPTI_ACTIVITY_KIND_KERNEL_start ON CUPTI_ACTIVITY_KIND_KERNEL(start);
CREATE INDEX CUPTI_ACTIVITY_KIND_MEMCPY_start ON CUPTI_ACTIVITY_KIND_MEMCPY(start);
CREATE INDEX CUPTI_ACTIVITY_KIND_MEMSET_start ON CUPTI_ACTIVITY_KIND_MEMSET(start);
CREATE INDEX MOEPROF_OPERATORS_start ON MOEPROF_OPERATORS(start);
CREATE INDEX MOEPROF_MEMORY_timestamp ON MOEPROF_MEMORY(timestamp);
CREATE INDEX CUPTI_ACTIVITY_KIND_RUNTIME_start ON CUPTI_ACTIVITY_KIND_RUNTIME(start);
CREATE INDEX MOEPROF_ROUTING_timestamp ON MOEPROF_ROUTING(timestamp);
CREATE INDEX MOEPROF_EXTERNAL_CORRELATION_correlationId
  ON MOEPROF_EXTERNAL_CORRELATION(correlationId);
CREATE INDEX MOEPROF_OVERHEAD_start ON MOEPROF_OVERHEAD(start);
CREATE INDEX MOEPROF_CACHE_timestamp ON MOEPROF_CACHE(timestamp);
CREATE INDEX MOEPROF_TRANSFERS_start ON MOEPROF_TRANSFERS(start);
)sql";
// host byte order.
std::string encodeU32s(const std::vector<uint32_t>& values) {
  std::string bytes;
  bytes.reserve(values.size() * 4);
  for (uint32_t value : values) {
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back(static_cast<char>(value >> shift));
  }
  return bytes;
}

struct MetaEntry {
  std::string key;
  std::string value;
};
using QueuedItem = std::variant<OperatorEvent, RangeEvent, MemoryEvent, KernelEvent, MemcpyEvent,
                                MemsetEvent, ApiEvent, CorrelationEvent, OverheadEvent,
                                RoutingEvent, CacheEvent, TransferEvent, SourceStats, MetaEntry>;

// Items that are not trace events (they replace earlier values instead of adding rows).
bool isEvent(const QueuedItem& item) {
  return !std::holds_alternative<MetaEntry>(item) && !std::holds_alternative<SourceStats>(item);
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

}  // namespace

// The writer's state: the queue shared with append(), and the connection, statements and
// string table that only the writer thread touches once it runs.
class TraceWriter::Impl {
 public:
  Impl(const std::filesystem::path& file, std::chrono::milliseconds flushInterval,
       int64_t maxFileBytes);
  ~Impl();

  void push(QueuedItem item);
  void flush();
  void close();
  Stats stats() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  void createSchema(int64_t maxFileBytes);
  void run();
  std::string writeBatch(const std::vector<QueuedItem>& batch);
  void insert(const OperatorEvent& event);
  void insert(const RangeEvent& event);
  void insert(const MemoryEvent& event);
  void insert(const KernelEvent& event);
  void insert(const MemcpyEvent& event);
  void insert(const MemsetEvent& event);
  void insert(const ApiEvent& event);
  void insert(const CorrelationEvent& event);
  void insert(const OverheadEvent& event);
  void insert(const RoutingEvent& event);
  void insert(const CacheEvent& event);
  void insert(const TransferEvent& event);
  void insert(const SourceStats& stats);
  void insert(const MetaEntry& entry);
  int64_t intern(const std::string& text);
  void throwIfFailed(bool fromAppend = false);  // mutex_ held
  void closeDatabase();

  std::filesystem::path path_;
  std::chrono::milliseconds flushInterval_;
  Connection db_;  // before the statements, which must be finalized first
  Statement insertOperator_, insertRange_, insertMemory_, insertKernel_, insertMemcpy_,
      insertMemset_, insertApi_, insertCorrelation_, insertOverhead_, insertRouting_, insertCache_,
      insertTransfer_, insertSource_, insertMeta_, insertString_;
  // After a failed transaction nothing more is written, so ids handed out in it never need to
  // be taken back.
  std::unordered_map<std::string, int64_t> stringIds_;
  int64_t nextStringId_ = 1;

  mutable std::mutex mutex_;
  std::condition_variable wake_;       // the writer thread waits on it
  std::condition_variable committed_;  // flush() waits on it
  std::vector<QueuedItem> queue_;
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
  db_ = sqlite::openConnection(path_, SQLITE_OPEN_READWRITE);
  sqlite3* db = db_.get();
  // WAL with synchronous=NORMAL: a commit is one append to the WAL (no fsync per transaction),
  // and a committed transaction survives a killed process (not a power loss).
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, "PRAGMA synchronous=NORMAL");
  if (maxFileBytes > 0) {
    Statement pageSize(db, "PRAGMA page_size");
    pageSize.next();
    int64_t pages = std::max<int64_t>(1, maxFileBytes / sqlite3_column_int64(pageSize.get(), 0));
    exec(db, ("PRAGMA max_page_count=" + std::to_string(pages)).c_str());
  }
  exec(db, "BEGIN");
  exec(db, kSchemaSql);
  insertMeta_ = Statement(db, "INSERT OR REPLACE INTO META(key, value) VALUES(?, ?)");
  insert(MetaEntry{"schema_version", std::to_string(kTraceSchemaVersion)});
  insert(MetaEntry{"clock", "CLOCK_MONOTONIC"});
  insert(MetaEntry{"time_unit", "ns"});
  exec(db, "COMMIT");
  insertOperator_ = Statement(db,
                              "INSERT INTO MOEPROF_OPERATORS(start, end, globalTid, nameId, "
                              "sequenceNr, depth, correlationId) VALUES(?, ?, ?, ?, ?, ?, ?)");
  insertRange_ = Statement(db,
                           "INSERT INTO NVTX_EVENTS(start, end, eventType, globalTid, textId, "
                           "domainId) VALUES(?, ?, ?, ?, ?, ?)");
  insertMemory_ = Statement(db,
                            "INSERT INTO MOEPROF_MEMORY(timestamp, globalTid, deviceType, "
                            "deviceId, bytes, totalAllocated, totalReserved, address) "
                            "VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  insertRouting_ = Statement(db,
                             "INSERT INTO MOEPROF_ROUTING(timestamp, batch, moeLayer, step, "
                             "tokens, tokensPerExpert) VALUES(?, ?, ?, ?, ?, ?)");
  insertKernel_ = Statement(db,
                            "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL(start, end, deviceId, "
                            "contextId, streamId, correlationId, globalPid, demangledName, "
                            "shortName, gridX, gridY, gridZ, blockX, blockY, blockZ, "
                            "registersPerThread, staticSharedMemory, dynamicSharedMemory) "
                            "VALUES(?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insertMemcpy_ = Statement(db,
                            "INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY(start, end, deviceId, "
                            "contextId, streamId, correlationId, bytes, copyKind, srcKind, "
                            "dstKind, srcDeviceId, dstDeviceId) "
                            "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  insertMemset_ = Statement(db,
                            "INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET(start, end, deviceId, "
                            "contextId, streamId, correlationId, value, bytes) "
                            "VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  insertApi_ = Statement(db,
                         "INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME(start, end, eventClass, "
                         "globalTid, correlationId, nameId, returnValue) "
                         "VALUES(?, ?, ?, ?, ?, ?, ?)");
  insertCorrelation_ = Statement(db,
                                 "INSERT INTO MOEPROF_EXTERNAL_CORRELATION(correlationId, "
                                 "externalId) VALUES(?, ?)");
  insertOverhead_ = Statement(db,
                              "INSERT INTO MOEPROF_OVERHEAD(start, end, globalTid, kindId) "
                              "VALUES(?, ?, ?, ?)");
  insertCache_ = Statement(db,
                           "INSERT INTO MOEPROF_CACHE(timestamp, batch, moeLayer, expert, slot, "
                           "action, transferId) VALUES(?, ?, ?, ?, ?, ?, ?)");
  insertTransfer_ = Statement(db,
                              "INSERT INTO MOEPROF_TRANSFERS(start, end, globalTid, transferId, "
                              "moeLayer, expert, bytes, source, destination, prefetch) "
                              "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
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

void TraceWriter::Impl::push(QueuedItem item) {
  std::lock_guard lock(mutex_);
  throwIfFailed(/*fromAppend=*/true);
  if (closed_) throw std::runtime_error("trace store " + path_.string() + " is already closed");
  queue_.push_back(std::move(item));
  ++queuedItems_;
  // Once per filling: the writer rechecks the size before it sleeps, so none is missed.
  if (queue_.size() == kTraceFlushEvents) wake_.notify_one();
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
  closeDatabase();
  std::lock_guard lock(mutex_);
  if (!errorReported_) throwIfFailed();
}

void TraceWriter::Impl::closeDatabase() {
  for (Statement* statement :
       {&insertOperator_, &insertRange_, &insertMemory_, &insertKernel_, &insertMemcpy_,
        &insertMemset_, &insertApi_, &insertCorrelation_, &insertOverhead_, &insertRouting_,
        &insertCache_, &insertTransfer_, &insertSource_, &insertMeta_, &insertString_}) {
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
  std::vector<QueuedItem> batch;
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait_for(lock, flushInterval_, [this] {
      return stopping_ || flushRequested_ || queue_.size() >= kTraceFlushEvents;
    });
    flushRequested_ = false;
    bool stop = stopping_;
    bool failed = !error_.empty();
    batch.swap(queue_);  // the queue keeps the emptied batch's capacity
    uint64_t through = queuedItems_;
    lock.unlock();
    bool write = !batch.empty() && !failed;  // after a failure, queued items are dropped
    std::string error = write ? writeBatch(batch) : "";
    int64_t events = 0;
    for (const QueuedItem& item : batch) events += isEvent(item) ? 1 : 0;
    batch.clear();
    lock.lock();
    if (!error.empty()) {
      error_ = error;
    } else if (write) {
      stats_.eventsWritten += events;
      ++stats_.transactions;
    }
    committedItems_ = through;
    committed_.notify_all();
    if (stop) return;
  }
}

// Commits `batch` in one transaction; returns "" or the error for the caller to keep. A failed
// transaction is rolled back, so the file keeps everything committed before.
std::string TraceWriter::Impl::writeBatch(const std::vector<QueuedItem>& batch) {
  sqlite3* db = db_.get();
  try {
    exec(db, "BEGIN");
    for (const QueuedItem& item : batch) {
      std::visit([this](const auto& value) { insert(value); }, item);
    }
    exec(db, "COMMIT");
    return "";
  } catch (const std::exception& error) {
    // A failed COMMIT may or may not have ended the transaction itself.
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    const auto* sqliteError = dynamic_cast<const SqliteError*>(&error);
    bool full = sqliteError != nullptr && (sqliteError->code() & 0xff) == SQLITE_FULL;
    return "trace store " + path_.string() + ": " +
           (full ? "disk full while writing " : "cannot write ") + std::to_string(batch.size()) +
           " queued events (" + error.what() + "); the events before them are kept";
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

void TraceWriter::Impl::insert(const OperatorEvent& event) {
  int64_t nameId = intern(event.name);
  insertOperator_.bind(event.startNs).bind(event.endNs).bindUnsigned(event.threadId);
  insertOperator_.bindIdOrNull(nameId).bind(event.sequenceNr).bind(event.depth);
  insertOperator_.bindUnsigned(event.correlationId).run();
}

void TraceWriter::Impl::insert(const RangeEvent& event) {
  int64_t textId = intern(event.text);
  int64_t domainId = intern(event.domain);
  insertRange_.bind(event.startNs);
  if (event.isMark) {
    insertRange_.bindNull().bind(kNvtxMarkEventType);  // nsys leaves a mark's end NULL
  } else {
    insertRange_.bind(event.endNs).bind(kNvtxPushPopRangeEventType);
  }
  insertRange_.bindUnsigned(event.threadId).bindIdOrNull(textId).bindIdOrNull(domainId).run();
}

void TraceWriter::Impl::insert(const MemoryEvent& event) {
  insertMemory_.bind(event.timestampNs).bindUnsigned(event.threadId).bind(event.deviceType);
  insertMemory_.bind(event.deviceIndex).bind(event.bytes).bind(event.totalAllocatedBytes);
  insertMemory_.bind(event.totalReservedBytes).bindUnsigned(event.address).run();
}

void TraceWriter::Impl::insert(const RoutingEvent& event) {
  insertRouting_.bind(event.timestampNs).bind(event.batch).bind(event.moeLayer).bind(event.step);
  insertRouting_.bind(event.tokens).bindBlob(encodeU32s(event.tokensPerExpert)).run();
}

void TraceWriter::Impl::insert(const KernelEvent& event) {
  int64_t nameId = intern(event.name);
  int64_t shortNameId = intern(shortKernelName(event.name));
  Statement& row = insertKernel_;
  row.bind(event.startNs).bind(event.endNs).bind(event.deviceId).bind(event.contextId);
  row.bind(event.streamId).bindUnsigned(event.correlationId).bindIdOrNull(nameId);
  row.bindIdOrNull(shortNameId).bind(event.gridX).bind(event.gridY).bind(event.gridZ);
  row.bind(event.blockX).bind(event.blockY).bind(event.blockZ).bind(event.registersPerThread);
  row.bind(event.staticSharedBytes).bind(event.dynamicSharedBytes).run();
}

void TraceWriter::Impl::insert(const MemcpyEvent& event) {
  Statement& row = insertMemcpy_;
  row.bind(event.startNs).bind(event.endNs).bind(event.deviceId).bind(event.contextId);
  row.bind(event.streamId).bindUnsigned(event.correlationId).bind(event.bytes);
  row.bind(event.copyKind).bind(event.srcKind).bind(event.dstKind);
  row.bind(event.srcDeviceId).bind(event.dstDeviceId).run();
}

void TraceWriter::Impl::insert(const MemsetEvent& event) {
  Statement& row = insertMemset_;
  row.bind(event.startNs).bind(event.endNs).bind(event.deviceId).bind(event.contextId);
  row.bind(event.streamId).bindUnsigned(event.correlationId).bind(event.value).bind(event.bytes);
  row.run();
}

void TraceWriter::Impl::insert(const ApiEvent& event) {
  int64_t nameId = intern(event.name);
  Statement& row = insertApi_;
  row.bind(event.startNs).bind(event.endNs).bind(static_cast<int64_t>(event.api));
  row.bindUnsigned(event.threadId).bindUnsigned(event.correlationId).bindIdOrNull(nameId);
  row.bind(event.returnValue).run();
}

void TraceWriter::Impl::insert(const CorrelationEvent& event) {
  insertCorrelation_.bindUnsigned(event.correlationId).bindUnsigned(event.externalId).run();
}

void TraceWriter::Impl::insert(const OverheadEvent& event) {
  int64_t kindId = intern(event.kind);
  insertOverhead_.bind(event.startNs).bind(event.endNs).bindUnsigned(event.threadId);
  insertOverhead_.bindIdOrNull(kindId).run();
}

void TraceWriter::Impl::insert(const CacheEvent& event) {
  Statement& row = insertCache_;
  row.bind(event.timestampNs).bind(event.batch).bind(event.moeLayer).bind(event.expert);
  row.bind(event.slot).bind(static_cast<int64_t>(event.action));
  row.bindUnsigned(event.transferId).run();
}

void TraceWriter::Impl::insert(const TransferEvent& event) {
  Statement& row = insertTransfer_;
  row.bind(event.startNs).bind(event.endNs).bindUnsigned(event.threadId);
  row.bindUnsigned(event.transferId).bind(event.moeLayer).bind(event.expert).bind(event.bytes);
  row.bind(static_cast<int64_t>(event.source)).bind(static_cast<int64_t>(event.destination));
  row.bind(event.prefetch ? 1 : 0).run();
}

void TraceWriter::Impl::insert(const SourceStats& stats) {
  insertSource_.bind(stats.source).bind(stats.events).bind(stats.dropped).bind(stats.overheadNs);
  insertSource_.run();
}

void TraceWriter::Impl::insert(const MetaEntry& entry) {
  insertMeta_.bind(entry.key).bind(entry.value).run();
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
  impl_->push(std::move(event));
}
void TraceWriter::append(RangeEvent event) {
  impl_->push(std::move(event));
}
void TraceWriter::append(const MemoryEvent& event) {
  impl_->push(event);
}
void TraceWriter::append(KernelEvent event) {
  impl_->push(std::move(event));
}
void TraceWriter::append(const MemcpyEvent& event) {
  impl_->push(event);
}
void TraceWriter::append(const MemsetEvent& event) {
  impl_->push(event);
}
void TraceWriter::append(ApiEvent event) {
  impl_->push(std::move(event));
}
void TraceWriter::append(const CorrelationEvent& event) {
  impl_->push(event);
}
void TraceWriter::append(OverheadEvent event) {
  impl_->push(std::move(event));
}
void TraceWriter::append(RoutingEvent event) {
  impl_->push(std::move(event));
}
void TraceWriter::append(const CacheEvent& event) {
  impl_->push(event);
}
void TraceWriter::append(const TransferEvent& event) {
  impl_->push(event);
}
void TraceWriter::append(SourceStats stats) {
  impl_->push(std::move(stats));
}
void TraceWriter::setMeta(const std::string& key, const std::string& value) {
  impl_->push(MetaEntry{key, value});
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
