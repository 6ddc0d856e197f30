#include "collector/store/trace_store.h"
#include "collector/store/trace_reader.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "collector/errors.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"

namespace moeprof::collector {
namespace {

using namespace std::chrono_literals;

class TraceStoreTest : public moeprof::testing::TempDirTest {
 protected:
  std::filesystem::path file(const std::string& name = kTraceFileName) const { return dir_ / name; }
};
using TraceStoreDeathTest = TraceStoreTest;

// A plain read-write sqlite3 connection, to check the tables as users' own queries see them.
class Database {
 public:
  explicit Database(const std::filesystem::path& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) ADD_FAILURE() << sqlite3_errmsg(db_);
  }
  ~Database() { sqlite3_close(db_); }

  void exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << error;
      sqlite3_free(error);
    }
  }

  // Every row of `sql` as strings (NULL as "NULL").
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    std::vector<std::vector<std::string>> result;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return result;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      auto& row = result.emplace_back();
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const auto* text = sqlite3_column_text(stmt, c);
        row.push_back(text ? reinterpret_cast<const char*>(text) : "NULL");
      }
    }
    sqlite3_finalize(stmt);
    return result;
  }

  std::string scalar(const std::string& sql) {
    auto result = rows(sql);
    return result.empty() || result[0].empty() ? "" : result[0][0];
  }

 private:
  sqlite3* db_ = nullptr;
};

using moeprof::testing::inputErrorMessage;

std::string runtimeErrorMessage(const std::function<void()>& function) {
  try {
    function();
  } catch (const InputError& error) {
    ADD_FAILURE() << "expected a runtime error, got InputError: " << error.what();
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected std::runtime_error, nothing was thrown";
  return "";
}

OperatorEvent makeOperator(int64_t start, int64_t end, const std::string& name, int32_t depth) {
  OperatorEvent event;
  event.startNs = start;
  event.endNs = end;
  event.threadId = 0x7f00'1234'5678ULL;
  event.name = name;
  event.sequenceNr = start % 3 == 0 ? -1 : start;
  event.depth = depth;
  event.correlationId = static_cast<uint64_t>(start) * 10 + 0xF000'0000'0000'0000ULL;
  return event;
}

RangeEvent makeRange(int64_t start, int64_t end, const std::string& text, bool isMark = false) {
  RangeEvent event;
  event.startNs = start;
  event.endNs = isMark ? start : end;
  event.threadId = 42;
  event.domain = "moeprof";
  event.text = text;
  event.isMark = isMark;
  return event;
}

MemoryEvent makeMemory(int64_t timestamp, int64_t bytes) {
  MemoryEvent event;
  event.timestampNs = timestamp;
  event.threadId = 7;
  event.deviceType = bytes > 0 ? 1 : 0;
  event.deviceIndex = bytes > 0 ? 3 : -1;
  event.bytes = bytes;
  event.totalAllocatedBytes = 1'000'000 + bytes;
  event.totalReservedBytes = 2'000'000;
  event.address = 0xFFFF'8000'0000'1000ULL + static_cast<uint64_t>(timestamp);
  return event;
}

RoutingEvent makeRouting(int64_t timestamp, uint32_t batch, std::vector<uint32_t> perExpert) {
  RoutingEvent event;
  event.timestampNs = timestamp;
  event.batch = batch;
  event.moeLayer = batch + 1;
  event.step = 0xFFFF'FFFFu;
  event.tokens = 0;
  for (uint32_t count : perExpert) event.tokens += count;
  event.tokensPerExpert = std::move(perExpert);
  return event;
}

void expectSame(const OperatorEvent& a, const OperatorEvent& b) {
  EXPECT_EQ(a.startNs, b.startNs);
  EXPECT_EQ(a.endNs, b.endNs);
  EXPECT_EQ(a.threadId, b.threadId);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.sequenceNr, b.sequenceNr);
  EXPECT_EQ(a.depth, b.depth);
  EXPECT_EQ(a.correlationId, b.correlationId);
}

void expectSame(const RangeEvent& a, const RangeEvent& b) {
  EXPECT_EQ(a.startNs, b.startNs);
  EXPECT_EQ(a.endNs, b.endNs);
  EXPECT_EQ(a.threadId, b.threadId);
  EXPECT_EQ(a.domain, b.domain);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(a.isMark, b.isMark);
}

void expectSame(const MemoryEvent& a, const MemoryEvent& b) {
  EXPECT_EQ(a.timestampNs, b.timestampNs);
  EXPECT_EQ(a.threadId, b.threadId);
  EXPECT_EQ(a.deviceType, b.deviceType);
  EXPECT_EQ(a.deviceIndex, b.deviceIndex);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.totalAllocatedBytes, b.totalAllocatedBytes);
  EXPECT_EQ(a.totalReservedBytes, b.totalReservedBytes);
  EXPECT_EQ(a.address, b.address);
}

void expectSame(const RoutingEvent& a, const RoutingEvent& b) {
  EXPECT_EQ(a.timestampNs, b.timestampNs);
  EXPECT_EQ(a.batch, b.batch);
  EXPECT_EQ(a.moeLayer, b.moeLayer);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.tokensPerExpert, b.tokensPerExpert);
}

template <typename Event>
void expectSameList(const std::vector<Event>& actual, const std::vector<Event>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    expectSame(actual[i], expected[i]);
  }
}

// Polls until `done()` holds or `limit` passes; for what the writer thread does on its own.
template <typename Predicate>
bool eventually(Predicate&& done, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

TEST_F(TraceStoreTest, RoundTripsEveryEventKindInOrder) {
  // Written out of order, with ties, to check the documented read order.
  std::vector<OperatorEvent> operators = {
      makeOperator(300, 400, "aten::addmm", 1), makeOperator(100, 500, "aten::linear", 0),
      makeOperator(300, 350, "aten::mm", 2), makeOperator(-5, 0, "", 0)};
  std::vector<RangeEvent> ranges = {makeRange(200, 900, "experts"), makeRange(100, 1000, "gate"),
                                    makeRange(150, 150, "step", true),
                                    makeRange(200, 950, "moe.layer")};
  ranges[1].domain = "";
  ranges[1].threadId = UINT64_MAX;
  std::vector<MemoryEvent> memory = {makeMemory(10, 4096), makeMemory(5, -4096), makeMemory(10, 64),
                                     makeMemory(INT64_MAX, INT64_MIN)};
  std::vector<RoutingEvent> routing = {makeRouting(20, 1, {3, 0, 5, 0xFFFF'FFFFu}),
                                       makeRouting(10, 0, {}), makeRouting(20, 2, {1})};
  {
    TraceWriter writer(file());
    for (const auto& event : operators) writer.append(event);
    for (const auto& event : ranges) writer.append(event);
    for (const auto& event : memory) writer.append(event);
    for (const auto& event : routing) writer.append(event);
    writer.flush();
    EXPECT_EQ(writer.stats().eventsWritten, 15);
    EXPECT_GE(writer.stats().transactions, 1);
  }
  TraceReader reader(file());
  expectSameList(reader.operators(), {operators[3], operators[1], operators[0], operators[2]});
  expectSameList(reader.ranges(), {ranges[1], ranges[2], ranges[3], ranges[0]});
  expectSameList(reader.memory(), {memory[1], memory[0], memory[2], memory[3]});
  expectSameList(reader.routing(), {routing[1], routing[0], routing[2]});
}

TEST_F(TraceStoreTest, WritesMetaRowsAndQueuedMeta) {
  {
    TraceWriter writer(file());
    writer.setMeta("model", "lm-cpu");
    writer.setMeta("model", "mt-cpu");  // the last value wins
  }
  TraceReader reader(file());
  EXPECT_EQ(reader.schemaVersion(), kTraceSchemaVersion);
  EXPECT_EQ(reader.meta("schema_version"), std::to_string(kTraceSchemaVersion));
  EXPECT_EQ(reader.meta("clock"), "CLOCK_MONOTONIC");
  EXPECT_EQ(reader.meta("time_unit"), "ns");
  EXPECT_EQ(reader.meta("model"), "mt-cpu");
  EXPECT_EQ(reader.meta("absent"), "");
  EXPECT_TRUE(reader.operators().empty());
  EXPECT_TRUE(reader.routing().empty());
}

TEST_F(TraceStoreTest, HasNsysTablesIndexesAndWal) {
  TraceWriter writer(file());
  Database db(file());
  EXPECT_EQ(db.scalar("PRAGMA journal_mode"), "wal");
  // Preparing these proves every column exists; the GPU tables start empty.
  db.rows(
      "SELECT start, end, deviceId, contextId, streamId, correlationId, globalPid, demangledName, "
      "shortName, gridX, gridY, gridZ, blockX, blockY, blockZ, registersPerThread, "
      "staticSharedMemory, dynamicSharedMemory FROM CUPTI_ACTIVITY_KIND_KERNEL");
  db.rows(
      "SELECT start, end, deviceId, contextId, streamId, correlationId, globalPid, bytes, "
      "copyKind, srcKind, dstKind FROM CUPTI_ACTIVITY_KIND_MEMCPY");
  db.rows(
      "SELECT start, end, deviceId, contextId, streamId, correlationId, globalPid, value, bytes "
      "FROM CUPTI_ACTIVITY_KIND_MEMSET");
  db.rows(
      "SELECT start, end, eventClass, globalTid, correlationId, nameId, returnValue, callchainId "
      "FROM CUPTI_ACTIVITY_KIND_RUNTIME");
  db.rows("SELECT id, name, totalMemory FROM TARGET_INFO_GPU");
  db.rows(
      "SELECT start, end, eventType, rangeId, category, color, text, globalTid, endGlobalTid, "
      "textId, domainId FROM NVTX_EVENTS");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM CUPTI_ACTIVITY_KIND_KERNEL"), "0");
  const char* timeIndexes =
      "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND (sql LIKE '%(start)' OR "
      "sql LIKE '%(timestamp)')";
  EXPECT_EQ(db.scalar(timeIndexes), "0") << "indexes are built once, when the writer closes";
  writer.close();
  EXPECT_EQ(db.scalar(timeIndexes), "11");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = "
                      "'MOEPROF_EXTERNAL_CORRELATION_correlationId'"),
            "1");
}

TEST_F(TraceStoreTest, RoundTripsGpuAppAndCollectorRecords) {
  KernelEvent kernel{100, 200, 1, 2,  7,    42,  "void gemm<float>(int, float*)", 4, 2, 1,
                     128, 1,   1, 32, 1024, 2048};
  MemcpyEvent copy{150, 250, 1, 2, 8, 43, 1 << 20, 1, 2, 3, -1, -1};
  MemsetEvent memset{260, 270, 1, 2, 7, 44, 4096, 0};
  ApiEvent launch{90, 95, 77, 42, ApiEvent::Api::Runtime, "cudaLaunchKernel", 0};
  ApiEvent driver{96, 99, 77, 43, ApiEvent::Api::Driver, "cuMemcpyAsync", 1};
  CacheEvent miss{300, 3, 1, 5, 2, CacheAction::Miss, 9};
  TransferEvent transfer{301, 400, 78, 9, 1, 5, 65536, MemoryTier::Disk, MemoryTier::Host, true};
  {
    TraceWriter writer(file());
    writer.append(kernel);
    writer.append(copy);
    writer.append(memset);
    writer.append(driver);
    writer.append(launch);
    writer.append(CorrelationEvent{42, 1001});
    writer.append(OverheadEvent{10, 20, 77, "cupti.buffer_flush"});
    writer.append(miss);
    writer.append(transfer);
    writer.append(SourceStats{"cupti", 5, 1, 0});
    writer.append(SourceStats{"cupti", 6, 2, 3});  // replaces the first
    writer.append(SourceStats{"operators", 9, 0, 0});
  }
  Trace trace = TraceReader(file()).readAll();
  EXPECT_EQ(trace.meta.at("schema_version"), std::to_string(kTraceSchemaVersion));
  ASSERT_EQ(trace.kernels.size(), 1u);
  EXPECT_EQ(trace.kernels[0].name, kernel.name);
  EXPECT_EQ(trace.kernels[0].streamId, 7u);
  EXPECT_EQ(trace.kernels[0].correlationId, 42u);
  EXPECT_EQ(trace.kernels[0].blockX, 128);
  EXPECT_EQ(trace.kernels[0].dynamicSharedBytes, 2048);
  ASSERT_EQ(trace.memcpys.size(), 1u);
  EXPECT_EQ(trace.memcpys[0].bytes, 1 << 20);
  EXPECT_EQ(trace.memcpys[0].copyKind, 1);
  EXPECT_EQ(trace.memcpys[0].dstKind, 3);
  EXPECT_EQ(trace.memcpys[0].srcDeviceId, -1);
  ASSERT_EQ(trace.memsets.size(), 1u);
  EXPECT_EQ(trace.memsets[0].bytes, 4096);
  ASSERT_EQ(trace.apiCalls.size(), 2u);  // ordered by start
  EXPECT_EQ(trace.apiCalls[0].name, "cudaLaunchKernel");
  EXPECT_EQ(trace.apiCalls[1].api, ApiEvent::Api::Driver);
  EXPECT_EQ(trace.apiCalls[1].returnValue, 1);
  ASSERT_EQ(trace.correlations.size(), 1u);
  EXPECT_EQ(trace.correlations[0].externalId, 1001u);
  ASSERT_EQ(trace.overheads.size(), 1u);
  EXPECT_EQ(trace.overheads[0].kind, "cupti.buffer_flush");
  ASSERT_EQ(trace.cache.size(), 1u);
  EXPECT_EQ(trace.cache[0].action, CacheAction::Miss);
  EXPECT_EQ(trace.cache[0].slot, 2);
  EXPECT_EQ(trace.cache[0].transferId, 9u);
  ASSERT_EQ(trace.transfers.size(), 1u);
  EXPECT_EQ(trace.transfers[0].source, MemoryTier::Disk);
  EXPECT_EQ(trace.transfers[0].destination, MemoryTier::Host);
  EXPECT_TRUE(trace.transfers[0].prefetch);
  EXPECT_EQ(trace.transfers[0].bytes, 65536);
  ASSERT_EQ(trace.sources.size(), 2u);
  EXPECT_EQ(trace.sources[0].source, "cupti");
  EXPECT_EQ(trace.sources[0].events, 6);
  EXPECT_EQ(trace.sources[0].dropped, 2);
  // nsys keeps the short name beside the demangled one.
  Database db(file());
  EXPECT_EQ(db.scalar("SELECT s.value FROM CUPTI_ACTIVITY_KIND_KERNEL k "
                      "JOIN StringIds s ON s.id = k.shortName"),
            "void gemm<float>");
}

TEST_F(TraceStoreTest, RejectsAnUnknownEnumValue) {
  {
    TraceWriter writer(file());
    writer.append(CacheEvent{1, 0, 0, 0, 0, CacheAction::Hit, 0});
  }
  Database(file()).exec("UPDATE MOEPROF_CACHE SET action = 9");
  std::string message = inputErrorMessage([&] { TraceReader(file()).cache(); });
  EXPECT_NE(message.find("MOEPROF_CACHE.action holds 9"), std::string::npos) << message;
}

TEST_F(TraceStoreTest, InternsEachStringOnce) {
  const std::vector<std::string> names = {"aten::addmm", "aten::mm", "aten::softmax"};
  {
    TraceWriter writer(file());
    for (int i = 0; i < 100; ++i) writer.append(makeOperator(i, i + 1, names[i % 3], 0));
    for (int i = 0; i < 10; ++i) {
      writer.append(makeRange(i, i + 5, i % 2 == 0 ? "gate" : "aten::addmm"));
    }
  }
  Database db(file());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM StringIds WHERE value = 'aten::addmm'"), "1");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM StringIds WHERE value = 'gate'"), "1");
  // The three names, "gate" and the domain "moeprof".
  EXPECT_EQ(db.scalar("SELECT count(*) FROM StringIds"), "5");
  EXPECT_EQ(db.scalar("SELECT count(DISTINCT nameId) FROM MOEPROF_OPERATORS"), "3");
}

TEST_F(TraceStoreTest, NsysStyleQueriesWork) {
  {
    TraceWriter writer(file());
    writer.append(makeRange(300, 300, "step", true));
    writer.append(makeRange(100, 150, "gate"));
    writer.append(makeRange(200, 250, "experts"));
  }
  Database db(file());
  auto rows = db.rows(
      "SELECT s.value, n.start FROM NVTX_EVENTS n JOIN StringIds s ON n.textId = s.id "
      "ORDER BY n.start");
  std::vector<std::vector<std::string>> expected = {
      {"gate", "100"}, {"experts", "200"}, {"step", "300"}};
  EXPECT_EQ(rows, expected);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM NVTX_EVENTS WHERE text IS NOT NULL"), "0");
  auto kinds = db.rows("SELECT eventType, end FROM NVTX_EVENTS ORDER BY start");
  std::vector<std::vector<std::string>> expectedKinds = {
      {"59", "150"}, {"59", "250"}, {"34", "NULL"}};
  EXPECT_EQ(kinds, expectedKinds);
  EXPECT_EQ(db.scalar("SELECT DISTINCT d.value FROM NVTX_EVENTS n JOIN StringIds d "
                      "ON n.domainId = d.id"),
            "moeprof");
}

TEST_F(TraceStoreTest, FlushesPeriodicallyWithoutFlushCalls) {
  TraceWriter writer(file(), 50ms);
  for (int i = 0; i < 3; ++i) writer.append(makeOperator(i, i + 1, "aten::mm", 0));
  std::this_thread::sleep_for(150ms);  // longer than the interval; no flush() anywhere
  EXPECT_TRUE(eventually([&] { return TraceReader(file()).operators().size() == 3; }));
  EXPECT_GE(writer.stats().transactions, 1);
  EXPECT_EQ(writer.stats().eventsWritten, 3);
}

TEST_F(TraceStoreTest, FlushesWhenTheQueueIsFull) {
  TraceWriter writer(file(), std::chrono::hours(1));
  for (size_t i = 0; i < kTraceFlushEvents; ++i) {
    writer.append(makeMemory(static_cast<int64_t>(i), 64));
  }
  EXPECT_TRUE(eventually([&] { return TraceReader(file()).memory().size() == kTraceFlushEvents; }));
}

TEST_F(TraceStoreTest, RefusesAnExistingFile) {
  std::ofstream(file()) << "an older trace";
  std::string message = runtimeErrorMessage([&] { TraceWriter writer(file()); });
  EXPECT_NE(message.find(file().string()), std::string::npos) << message;
  EXPECT_NE(message.find("already exists"), std::string::npos) << message;
  std::ifstream in(file());
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "an older trace");
}

TEST_F(TraceStoreTest, RefusesAMissingDirectory) {
  std::string message = runtimeErrorMessage([&] { TraceWriter writer(dir_ / "no" / "trace"); });
  EXPECT_NE(message.find("cannot create"), std::string::npos) << message;
}

TEST_F(TraceStoreTest, CloseIsIdempotentAndAppendAfterCloseThrows) {
  TraceWriter writer(file());
  writer.append(makeOperator(1, 2, "aten::mm", 0));
  writer.close();
  writer.close();
  writer.flush();  // nothing left to flush
  EXPECT_THROW(writer.append(makeOperator(3, 4, "aten::mm", 0)), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(file().string() + "-wal"));  // checkpointed on close
  EXPECT_EQ(TraceReader(file()).operators().size(), 1u);
}

TEST_F(TraceStoreTest, ConcurrentAppendsAreAllKept) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10'000;
  {
    TraceWriter writer(file(), 20ms);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&writer, t] {
        for (int i = 0; i < kPerThread; ++i) {
          OperatorEvent event = makeOperator(i, i + 1, "op" + std::to_string(i % 7), 0);
          event.threadId = static_cast<uint64_t>(t);
          event.correlationId = static_cast<uint64_t>(t * kPerThread + i);
          writer.append(std::move(event));
        }
      });
    }
    for (auto& thread : threads) thread.join();
    writer.flush();
    EXPECT_EQ(writer.stats().eventsWritten, kThreads * kPerThread);
  }
  auto events = TraceReader(file()).operators();
  ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<uint64_t> correlationIds;
  std::map<uint64_t, int> perThread;
  for (const auto& event : events) {
    correlationIds.insert(event.correlationId);
    ++perThread[event.threadId];
    EXPECT_EQ(event.correlationId % kPerThread, static_cast<uint64_t>(event.startNs));
  }
  EXPECT_EQ(correlationIds.size(), events.size());
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(perThread[t], kPerThread);
}

// A size cap fails like a full disk: the error reaches the caller, what was committed before
// stays readable.
// A disk that fills up: room for the schema (about 30 pages of 64 KiB) and a little more.
constexpr int64_t kSmallDiskBytes = 4 * 1024 * 1024;

TEST_F(TraceStoreTest, DiskFullIsReportedAndEarlierEventsSurvive) {
  TraceWriter writer(file(), std::chrono::hours(1), kSmallDiskBytes);
  for (int i = 0; i < 10; ++i) writer.append(makeOperator(i, i + 1, "aten::mm", 0));
  writer.flush();
  for (int i = 0; i < 60'000; ++i) {
    writer.append(makeOperator(100 + i, 200 + i, std::string(100, 'x') + std::to_string(i), 0));
  }
  std::string message = runtimeErrorMessage([&] { writer.flush(); });
  EXPECT_NE(message.find(file().string()), std::string::npos) << message;
  EXPECT_NE(message.find("disk full"), std::string::npos) << message;
  EXPECT_NE(message.find("SQLITE_FULL"), std::string::npos) << message;
  EXPECT_THROW(writer.append(makeOperator(1, 2, "aten::mm", 0)), std::runtime_error);
  EXPECT_NO_THROW(writer.close());  // already reported by flush()
  TraceReader reader(file());
  EXPECT_EQ(reader.operators().size(), 10u);
  EXPECT_EQ(reader.meta("clock"), "CLOCK_MONOTONIC");
}

TEST_F(TraceStoreTest, CloseReportsAnErrorOnlyAppendsHaveSeen) {
  TraceWriter writer(file(), 20ms, kSmallDiskBytes);
  // Append until the writer thread has failed, swallowing the error as a source callback must.
  int appended = 0;
  EXPECT_TRUE(eventually([&] {
    try {
      for (int i = 0; i < 1000; ++i, ++appended) {
        writer.append(makeOperator(appended, appended + 1,
                                   std::string(100, 'y') + std::to_string(appended), 0));
      }
      return false;
    } catch (const std::runtime_error&) {
      return true;
    }
  }));
  std::string message = runtimeErrorMessage([&] { writer.close(); });
  EXPECT_NE(message.find("SQLITE_FULL"), std::string::npos) << message;
  EXPECT_NO_THROW(writer.close());
  EXPECT_LT(TraceReader(file()).operators().size(), static_cast<size_t>(appended));
}

TEST_F(TraceStoreDeathTest, CommittedEventsSurviveAKill) {
  EXPECT_EXIT(
      {
        TraceWriter writer(file(), std::chrono::hours(1));
        for (int i = 0; i < 100; ++i) writer.append(makeOperator(i, i + 1, "aten::mm", 0));
        writer.flush();
        writer.append(makeOperator(1000, 1001, "unflushed", 0));
        ::kill(::getpid(), SIGKILL);
      },
      ::testing::KilledBySignal(SIGKILL), "");
  TraceReader reader(file());
  EXPECT_EQ(reader.operators().size(), 100u);
  EXPECT_EQ(reader.meta("schema_version"), std::to_string(kTraceSchemaVersion));
}

TEST_F(TraceStoreTest, ReaderRejectsAMissingFile) {
  std::string message = inputErrorMessage([&] { TraceReader reader(file()); });
  EXPECT_NE(message.find(file().string()), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST_F(TraceStoreTest, ReaderRejectsAGarbageFile) {
  std::ofstream(file()) << "this is not a database, just some text that is long enough to fill a "
                           "header of one hundred bytes, which SQLite reads first.\n";
  std::string message = inputErrorMessage([&] { TraceReader reader(file()); });
  EXPECT_NE(message.find(file().string()), std::string::npos) << message;
  EXPECT_NE(message.find("not an SQLite database"), std::string::npos) << message;
}

TEST_F(TraceStoreTest, ReaderSurvivesATruncatedStore) {
  {
    TraceWriter writer(file());
    for (int i = 0; i < 5000; ++i) {
      writer.append(makeOperator(i, i + 1, "op" + std::to_string(i), 0));
      writer.append(makeRange(i, i + 1, "range" + std::to_string(i)));
      writer.append(makeMemory(i, 64));
    }
  }
  std::filesystem::resize_file(file(), std::filesystem::file_size(file()) / 2);
  // Either a clear InputError or a partial result: never a crash or another exception.
  try {
    TraceReader reader(file());
    EXPECT_LE(reader.operators().size(), 5000u);
    EXPECT_LE(reader.ranges().size(), 5000u);
    EXPECT_LE(reader.memory().size(), 5000u);
    reader.routing();
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find(file().string()), std::string::npos) << error.what();
  }
}

TEST_F(TraceStoreTest, ReaderRejectsAnotherSchemaVersion) {
  {
    Database db(file());
    db.exec(
        "CREATE TABLE META (key TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO META VALUES ('schema_version', '99')");
  }
  std::string message = inputErrorMessage([&] { TraceReader reader(file()); });
  EXPECT_NE(message.find(file().string()), std::string::npos) << message;
  EXPECT_NE(message.find("99"), std::string::npos) << message;
  EXPECT_NE(message.find("reads " + std::to_string(kTraceSchemaVersion)), std::string::npos)
      << message;
}

TEST_F(TraceStoreTest, ReaderRejectsADatabaseWithoutMeta) {
  Database(file()).exec("CREATE TABLE t (x INTEGER)");
  std::string message = inputErrorMessage([&] { TraceReader reader(file()); });
  EXPECT_NE(message.find("not a moeprof trace store"), std::string::npos) << message;
}

TEST_F(TraceStoreTest, ReaderRejectsValuesThatDoNotFit) {
  {
    TraceWriter writer(file());
    writer.append(makeMemory(1, 64));
    writer.append(makeRouting(1, 0, {1, 2}));
  }
  {
    Database db(file());
    db.exec("UPDATE MOEPROF_MEMORY SET deviceType = 300");
    db.exec("UPDATE MOEPROF_ROUTING SET tokensPerExpert = x'010203'");
  }
  TraceReader reader(file());
  EXPECT_NE(inputErrorMessage([&] { reader.memory(); }).find("deviceType holds 300"),
            std::string::npos);
  EXPECT_NE(inputErrorMessage([&] { reader.routing(); }).find("multiple of 4"), std::string::npos);
}

TEST(TraceStoreClockTest, IsMonotonicNanoseconds) {
  int64_t first = traceClockNs();
  std::this_thread::sleep_for(2ms);
  int64_t second = traceClockNs();
  EXPECT_GT(first, 0);
  EXPECT_GE(second - first, 2'000'000);
}

}  // namespace
}  // namespace moeprof::collector
