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

namespace moeprof::collector {

namespace {

// NVTX_EVENTS.eventType values of Nsight Systems' export.
constexpr int kNvtxMarkEventType = 34;
constexpr int kNvtxPushPopRangeEventType = 59;
// How long a connection waits for a lock held by another connection (a reader recovering the
// WAL index, say) before giving up with SQLITE_BUSY.
constexpr int kBusyTimeoutMs = 5000;

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
  srcKind INTEGER, dstKind INTEGER);
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (start INTEGER NOT NULL, end INTEGER NOT NULL,
  deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL,
  correlationId INTEGER, globalPid INTEGER, value INTEGER NOT NULL, bytes INTEGER NOT NULL);
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
CREATE INDEX NVTX_EVENTS_start ON NVTX_EVENTS(start);
CREATE INDEX CUPTI_ACTIVITY_KIND_KERNEL_start ON CUPTI_ACTIVITY_KIND_KERNEL(start);
CREATE INDEX CUPTI_ACTIVITY_KIND_MEMCPY_start ON CUPTI_ACTIVITY_KIND_MEMCPY(start);
CREATE INDEX CUPTI_ACTIVITY_KIND_MEMSET_start ON CUPTI_ACTIVITY_KIND_MEMSET(start);
CREATE INDEX MOEPROF_OPERATORS_start ON MOEPROF_OPERATORS(start);
CREATE INDEX MOEPROF_MEMORY_timestamp ON MOEPROF_MEMORY(timestamp);
CREATE INDEX MOEPROF_ROUTING_timestamp ON MOEPROF_ROUTING(timestamp);
)sql";

// The symbolic name of an SQLite result code, so that messages name what users can look up.
const char* resultCodeName(int code) {
  struct Name {
    int code;
    const char* name;
  };
  static constexpr Name kNames[] = {{SQLITE_FULL, "SQLITE_FULL"},
                                    {SQLITE_IOERR, "SQLITE_IOERR"},
                                    {SQLITE_CORRUPT, "SQLITE_CORRUPT"},
                                    {SQLITE_NOTADB, "SQLITE_NOTADB"},
                                    {SQLITE_CANTOPEN, "SQLITE_CANTOPEN"},
                                    {SQLITE_BUSY, "SQLITE_BUSY"},
                                    {SQLITE_LOCKED, "SQLITE_LOCKED"},
                                    {SQLITE_READONLY, "SQLITE_READONLY"},
                                    {SQLITE_PERM, "SQLITE_PERM"},
                                    {SQLITE_NOMEM, "SQLITE_NOMEM"},
                                    {SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT"},
                                    {SQLITE_TOOBIG, "SQLITE_TOOBIG"},
                                    {SQLITE_ERROR, "SQLITE_ERROR"}};
  for (const Name& name : kNames) {
    if (name.code == (code & 0xff)) return name.name;
  }
  return "SQLITE error";
}

// An SQLite failure inside this file; the writer and the reader turn it into the error their
// callers expect (std::runtime_error or InputError) with the store's path in front.
class SqliteError : public std::runtime_error {
 public:
  SqliteError(sqlite3* db, int code)
      : std::runtime_error(std::string(resultCodeName(code)) + ": " +
                           (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code))),
        code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

void check(sqlite3* db, int code) {
  if (code != SQLITE_OK) throw SqliteError(db, code);
}

void exec(sqlite3* db, const char* sql) {
  check(db, sqlite3_exec(db, sql, nullptr, nullptr, nullptr));
}

// A prepared statement, kept for the life of a connection and reset after each use.
class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, const char* sql) : db_(db) {
    check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr));
  }
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), next_(other.next_) {}
  Statement& operator=(Statement&& other) noexcept {
    std::swap(db_, other.db_);
    std::swap(stmt_, other.stmt_);
    std::swap(next_, other.next_);
    return *this;
  }
  ~Statement() { sqlite3_finalize(stmt_); }

  Statement& bind(int64_t value) {
    check(db_, sqlite3_bind_int64(stmt_, ++next_, value));
    return *this;
  }
  Statement& bindNull() {
    check(db_, sqlite3_bind_null(stmt_, ++next_));
    return *this;
  }
  // SQLite stores integers signed; unsigned 64-bit ids keep their bit pattern.
  Statement& bindUnsigned(uint64_t value) { return bind(static_cast<int64_t>(value)); }
  Statement& bindIdOrNull(int64_t id) { return id > 0 ? bind(id) : bindNull(); }
  Statement& bind(const std::string& text) {
    check(db_, sqlite3_bind_text(stmt_, ++next_, text.data(), static_cast<int>(text.size()),
                                 SQLITE_TRANSIENT));
    return *this;
  }
  Statement& bindBlob(const std::string& bytes) {
    check(db_, sqlite3_bind_blob(stmt_, ++next_, bytes.data(), static_cast<int>(bytes.size()),
                                 SQLITE_TRANSIENT));
    return *this;
  }

  // Runs a statement that returns no rows, then resets it for the next use.
  void run() {
    int code = sqlite3_step(stmt_);
    reset();
    if (code != SQLITE_DONE) throw SqliteError(db_, code);
  }
  // Steps to the next row; false at the end.
  bool next() {
    int code = sqlite3_step(stmt_);
    if (code == SQLITE_ROW) return true;
    if (code == SQLITE_DONE) return false;
    throw SqliteError(db_, code);
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    next_ = 0;
  }

  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  int next_ = 0;  // index of the last bound parameter
};

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, SqliteCloser>;

// Opens `path` with `flags`; sqlite3_open_v2 allocates a handle even on failure, so it is
// always owned, and its message explains the failure.
Connection openConnection(const std::filesystem::path& path, int flags) {
  sqlite3* raw = nullptr;
  int code = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Connection db(raw);
  if (code != SQLITE_OK) throw SqliteError(db.get(), code);
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  return db;
}

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

struct MetaEntry {
  std::string key;
  std::string value;
};
using QueuedItem = std::variant<OperatorEvent, RangeEvent, MemoryEvent, RoutingEvent, MetaEntry>;

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

// The writer's state: the queue shared with append*(), and the connection, statements and
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
  void insert(const RoutingEvent& event);
  void insert(const MetaEntry& entry);
  int64_t intern(const std::string& text);
  void throwIfFailed(bool fromAppend = false);  // mutex_ held
  void closeDatabase();

  std::filesystem::path path_;
  std::chrono::milliseconds flushInterval_;
  Connection db_;  // before the statements, which must be finalized first
  Statement insertOperator_, insertRange_, insertMemory_, insertRouting_, insertMeta_;
  Statement insertString_;
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
  db_ = openConnection(path_, SQLITE_OPEN_READWRITE);
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
  insertString_ = Statement(db, "INSERT INTO StringIds(id, value) VALUES(?, ?)");
}

void TraceWriter::Impl::throwIfFailed(bool fromAppend) {
  if (error_.empty()) return;
  // Sources call append*() from callbacks that must swallow errors (an allocator's free runs
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
  for (Statement* statement : {&insertOperator_, &insertRange_, &insertMemory_, &insertRouting_,
                               &insertMeta_, &insertString_}) {
    *statement = Statement();
  }
  db_.reset();  // the last connection checkpoints the WAL into the database and removes it
}

TraceWriter::Stats TraceWriter::Impl::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

// The writer thread: wakes every flushInterval (or when asked), takes the whole queue and
// commits it in one transaction with the mutex released, so append*() never waits on the disk.
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
    for (const QueuedItem& item : batch) events += std::holds_alternative<MetaEntry>(item) ? 0 : 1;
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

void TraceWriter::appendOperator(OperatorEvent event) {
  impl_->push(std::move(event));
}
void TraceWriter::appendRange(RangeEvent event) {
  impl_->push(std::move(event));
}
void TraceWriter::appendMemory(const MemoryEvent& event) {
  impl_->push(event);
}
void TraceWriter::appendRouting(RoutingEvent event) {
  impl_->push(std::move(event));
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

namespace {

// Reads typed columns of one result row, rejecting values that do not fit the event field, so
// that a hand-edited or foreign store gives a clear error instead of silently wrapped numbers.
class RowReader {
 public:
  RowReader(sqlite3_stmt* stmt, const std::filesystem::path& path, const char* table)
      : stmt_(stmt), path_(path), table_(table) {}

  bool isNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  int64_t i64(int column) const { return sqlite3_column_int64(stmt_, column); }
  uint64_t u64(int column) const { return static_cast<uint64_t>(i64(column)); }

  template <typename T>
  T narrow(int column) const {
    int64_t value = i64(column);
    if (value < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        value > static_cast<int64_t>(std::numeric_limits<T>::max())) {
      throw InputError("trace store " + path_.string() + ": " + table_ + "." +
                       sqlite3_column_name(stmt_, column) + " holds " + std::to_string(value) +
                       ", outside the allowed range " +
                       std::to_string(+std::numeric_limits<T>::min()) + ".." +
                       std::to_string(+std::numeric_limits<T>::max()));
    }
    return static_cast<T>(value);
  }

  std::string text(int column) const {
    const auto* bytes = sqlite3_column_text(stmt_, column);
    if (bytes == nullptr) return "";
    return std::string(reinterpret_cast<const char*>(bytes),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }

  std::vector<uint32_t> u32s(int column) const {
    const auto* bytes = static_cast<const unsigned char*>(sqlite3_column_blob(stmt_, column));
    size_t size = static_cast<size_t>(sqlite3_column_bytes(stmt_, column));
    if (size % 4 != 0) {
      throw InputError("trace store " + path_.string() + ": " + table_ + "." +
                       sqlite3_column_name(stmt_, column) + " holds " + std::to_string(size) +
                       " bytes; a little-endian u32 array needs a multiple of 4");
    }
    std::vector<uint32_t> values(size / 4);
    for (size_t i = 0; i < values.size(); ++i) {
      for (int b = 0; b < 4; ++b) values[i] |= static_cast<uint32_t>(bytes[4 * i + b]) << (8 * b);
    }
    return values;
  }

 private:
  sqlite3_stmt* stmt_;
  const std::filesystem::path& path_;
  const char* table_;
};

// Runs `function`, turning SQLite failures into errors naming the store. A corrupt, truncated
// or foreign file is bad input (InputError); only running out of memory is not.
template <typename Function>
auto readGuarded(const std::filesystem::path& path, Function&& function) {
  try {
    return function();
  } catch (const SqliteError& error) {
    int code = error.code() & 0xff;
    if (code == SQLITE_NOMEM) {
      throw std::runtime_error("trace store " + path.string() + ": " + error.what());
    }
    if (code == SQLITE_NOTADB) {
      throw InputError("trace store " + path.string() + " is not an SQLite database (" +
                       error.what() + ")");
    }
    if (code == SQLITE_CORRUPT) {
      throw InputError("trace store " + path.string() + " is corrupt or truncated (" +
                       error.what() + ")");
    }
    throw InputError("trace store " + path.string() + " cannot be read: " + error.what());
  }
}

// Runs a query and calls `onRow(RowReader&)` for each row.
template <typename OnRow>
void forEachRow(sqlite3* db, const std::filesystem::path& path, const char* table, const char* sql,
                OnRow&& onRow) {
  readGuarded(path, [&] {
    Statement statement(db, sql);
    RowReader row(statement.get(), path, table);
    while (statement.next()) onRow(row);
  });
}

}  // namespace

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
    db_.reset(openConnection(path_, SQLITE_OPEN_READONLY).release());
    Statement statement(
        db_.get(), "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'META'");
    return statement.next() && sqlite3_column_int64(statement.get(), 0) > 0;
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

}  // namespace moeprof::collector
