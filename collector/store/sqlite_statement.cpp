#include "collector/store/sqlite_statement.h"

#include <unistd.h>

#include <string>

namespace moeprof::collector::sqlite {

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

void check(sqlite3* db, int code) {
  if (code != SQLITE_OK) throw SqliteError(db, code);
}

void exec(sqlite3* db, const char* sql) {
  check(db, sqlite3_exec(db, sql, nullptr, nullptr, nullptr));
}

namespace {

// "file:" URI of a path, with the characters URIs give a meaning percent-encoded.
std::string fileUri(const std::filesystem::path& path, const char* query) {
  std::string uri = "file:";
  for (unsigned char c : std::filesystem::absolute(path).string()) {
    if (c == '%' || c == '?' || c == '#' || c < 0x20 || c >= 0x7f) {
      static const char* kHex = "0123456789ABCDEF";
      uri += '%';
      uri += kHex[c >> 4];
      uri += kHex[c & 15];
    } else {
      uri += static_cast<char>(c);
    }
  }
  return uri + "?" + query;
}

// A database to read where nothing can be written beside it (a read-only directory or mount)
// and no WAL of it exists: a WAL-mode database (older moeprof traces, or one a killed run left)
// would need to create its -shm file there, so it is opened as immutable instead: nothing can
// change it while it is read.
bool readOnlyWhereItLies(const std::filesystem::path& path, int flags) {
  if ((flags & SQLITE_OPEN_READONLY) == 0) return false;
  std::error_code ignored;
  std::filesystem::path directory = std::filesystem::absolute(path, ignored).parent_path();
  return ::access(directory.c_str(), W_OK) != 0 &&
         !std::filesystem::exists(path.string() + "-wal", ignored);
}

}  // namespace

Connection openConnection(const std::filesystem::path& path, int flags) {
  sqlite3* raw = nullptr;
  int code = readOnlyWhereItLies(path, flags)
                 ? sqlite3_open_v2(fileUri(path, "immutable=1").c_str(), &raw,
                                   flags | SQLITE_OPEN_URI, nullptr)
                 : sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Connection db(raw);
  if (code != SQLITE_OK) throw SqliteError(db.get(), code);
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  return db;
}

// tokensPerExpert as a little-endian u32 array, by shifts so that it does not depend on the
void rethrowReadError(const std::filesystem::path& path, const SqliteError& error) {
  int code = error.code() & 0xff;
  if (code == SQLITE_NOMEM) {
    throw std::runtime_error("trace store " + path.string() + ": " + error.what());
  }
  if (code == SQLITE_NOTADB) {
    throw InputError("trace store " + path.string() + " is not an SQLite database (" +
                     error.what() + ")");
  }
  if (code == SQLITE_CORRUPT) {
    throw InputError("trace store " + path.string() + " is corrupt or truncated (" + error.what() +
                     ")");
  }
  throw InputError("trace store " + path.string() + " cannot be read: " + error.what());
}

bool tableExists(sqlite3* db, const char* table) {
  Statement statement(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
  statement.bind(std::string(table));
  return statement.next() && sqlite3_column_int64(statement.get(), 0) > 0;
}

}  // namespace moeprof::collector::sqlite
