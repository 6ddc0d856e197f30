#pragma once
// SQLite access shared by the trace store's writer and reader and by importers of foreign
// SQLite traces (Nsight Systems exports): errors that name the result code, prepared statements
// with chained binds, row readers that reject values which do not fit, and reads whose failures
// become InputErrors naming the file. Includes <sqlite3.h>: include it only from .cpp files.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "collector/errors.h"

namespace moeprof::collector::sqlite {

// How long a connection waits for a lock held by another connection (a reader recovering the
// WAL index, say) before giving up with SQLITE_BUSY.
inline constexpr int kBusyTimeoutMs = 5000;

// The symbolic name of an SQLite result code, so that messages name what users can look up.
const char* resultCodeName(int code);

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

void check(sqlite3* db, int code);
void exec(sqlite3* db, const char* sql);

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
  // Bindings stay until rebound: every user binds all parameters before each run.
  void reset() {
    sqlite3_reset(stmt_);
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

// Opens `path` with `flags` (extended result codes on, busy timeout set); throws SqliteError.
// Read-only opens of a file in a directory this process cannot write (and without a -wal file)
// open it as immutable, so that a WAL-mode database there still reads.
Connection openConnection(const std::filesystem::path& path, int flags);

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

  // An enum stored as its underlying value, which must lie in 0..last.
  template <typename Enum>
  Enum enumeration(int column, Enum last) const {
    int64_t value = i64(column);
    int64_t lastValue = static_cast<int64_t>(last);
    if (value < 0 || value > lastValue) {
      throw InputError("trace store " + path_.string() + ": " + table_ + "." +
                       sqlite3_column_name(stmt_, column) + " holds " + std::to_string(value) +
                       ", outside the allowed range 0.." + std::to_string(lastValue));
    }
    return static_cast<Enum>(value);
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

// Runs `function`, turning SQLite failures into errors naming `file`. A corrupt, truncated or
// foreign file is bad input (InputError); only running out of memory is not.
[[noreturn]] void rethrowReadError(const std::filesystem::path& file, const SqliteError& error);

template <typename Function>
auto readGuarded(const std::filesystem::path& path, Function&& function) {
  try {
    return function();
  } catch (const SqliteError& error) {
    rethrowReadError(path, error);
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

bool tableExists(sqlite3* db, const char* table);

}  // namespace moeprof::collector::sqlite
