// The Perfetto export of a fixed synthetic trace: byte for byte against a golden file, and
// parsed back to check what Perfetto relies on (nesting per track, flows with both ends bound to
// the intended slices, counters in time order, named tracks), gzip output and file handling.
#include "collector/perfetto/perfetto_writer.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>

#include "collector/errors.h"
#include "collector/perfetto/perfetto_output.h"
#include "tests/support/file_size_limit.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "tests/support/synthetic_trace.h"

namespace moeprof::collector {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using PerfettoWriterTest = moeprof::testing::TempDirTest;

int64_t nanos(const json& microseconds) {
  return std::llround(microseconds.get<double>() * 1000.0);
}

std::pair<int64_t, int64_t> trackOf(const json& event) {
  return {event.at("pid").get<int64_t>(), event.value("tid", int64_t{-1})};
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string gunzip(const std::string& compressed) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buffer[1 << 16];
  int status = Z_OK;
  while (status == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof(buffer);
    status = inflate(&z, Z_NO_FLUSH);
    out.append(buffer, sizeof(buffer) - z.avail_out);
  }
  EXPECT_EQ(status, Z_STREAM_END) << "a complete gzip stream";
  inflateEnd(&z);
  return out;
}

class SyntheticExport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    trace_ = new Trace(moeprof::testing::syntheticTrace());
    writer_ = new PerfettoWriter(*trace_);
    text_ = new std::string(writer_->json());
    document_ = new json(json::parse(*text_));
  }
  static void TearDownTestSuite() {
    delete document_;
    delete text_;
    delete writer_;
    delete trace_;
  }
  static const json& events() { return document_->at("traceEvents"); }

  static Trace* trace_;
  static PerfettoWriter* writer_;
  static std::string* text_;
  static json* document_;
};
Trace* SyntheticExport::trace_ = nullptr;
PerfettoWriter* SyntheticExport::writer_ = nullptr;
std::string* SyntheticExport::text_ = nullptr;
json* SyntheticExport::document_ = nullptr;

TEST_F(SyntheticExport, MatchesGoldenFile) {
  const fs::path expectedPath =
      fs::path(MOEPROF_SOURCE_DIR) / "tests/golden/perfetto_synthetic.json";
  std::string expected = readFile(expectedPath);
  if (*text_ == expected) return;
  const fs::path actualPath = expectedPath.string() + ".actual";
  std::ofstream(actualPath, std::ios::binary) << *text_;
  std::string diff = "diff -u '" + expectedPath.string() + "' '" + actualPath.string() + "'";
  [[maybe_unused]] int ignored = std::system(diff.c_str());
  FAIL() << "export differs from " << expectedPath << "; the output is in " << actualPath
         << " (copy it over the expected file if the change is intended)";
}

TEST_F(SyntheticExport, IsDeterministic) {
  EXPECT_EQ(PerfettoWriter(*trace_).json(), *text_);
}

TEST_F(SyntheticExport, HasTheDocumentKeysAndCounts) {
  EXPECT_EQ(document_->at("displayTimeUnit"), "ns");
  EXPECT_EQ(document_->at("otherData").at("model"), "synthetic");
  EXPECT_EQ(document_->at("otherData").at("source.nvtx").at("overhead_ns"), 1200);
  const PerfettoExportStats& stats = writer_->stats();
  EXPECT_EQ(stats.flows, 9);
  EXPECT_EQ(stats.flowsDropped, 3);
  EXPECT_EQ(stats.flowsUnbindable, 1);
  EXPECT_EQ(stats.overlapSlices, 3);
  EXPECT_EQ(stats.events, static_cast<int64_t>(events().size()));
  EXPECT_EQ(stats.bytes, static_cast<int64_t>(text_->size()));
  EXPECT_EQ(document_->at("otherData").at("export.flows"), 9);
  int64_t slices = 0;
  for (const auto& e : events()) slices += e.at("ph") == "X";
  // Every operator, range (not the mark), API call, overhead, GPU activity and transfer.
  const Trace& t = *trace_;
  EXPECT_EQ(slices, static_cast<int64_t>(t.operators.size() + t.ranges.size() - 1 +
                                         t.apiCalls.size() + t.overheads.size() + t.kernels.size() +
                                         t.memcpys.size() + t.memsets.size() + t.transfers.size()));
  EXPECT_EQ(stats.slices, slices);
}

TEST_F(SyntheticExport, TimestampsAreExactDecimalMicroseconds) {
  EXPECT_NE(text_->find("\"name\":\"aten::linear\",\"pid\":1,\"tid\":101,\"ts\":1001.100,"
                        "\"dur\":8.900"),
            std::string::npos);
  for (const auto& e : events()) {
    if (e.at("ph") == "X" && e.at("name") == "void gemm<float, 128>(float*)") {
      EXPECT_EQ(nanos(e.at("ts")), 1'002'000);
      EXPECT_EQ(nanos(e.at("dur")), 6'000);
      EXPECT_EQ(e.at("args").at("grid"), json::array({64, 1, 1}));
      EXPECT_EQ(e.at("args").at("block"), json::array({128, 1, 1}));
    }
  }
}

TEST_F(SyntheticExport, EscapesNamesSoThatTheyParseBack) {
  std::set<std::string> names;
  for (const auto& e : events()) {
    if (e.contains("name")) names.insert(e.at("name").get<std::string>());
  }
  EXPECT_TRUE(names.count("custom::jitter \"late\"\t\\"));
  EXPECT_TRUE(names.count("\xC2\xB5op \xEF\xBF\xBD tail\x01")) << "invalid byte -> U+FFFD";
}

TEST_F(SyntheticExport, SlicesNestProperlyOnEveryTrack) {
  std::map<std::pair<int64_t, int64_t>, std::vector<std::pair<int64_t, int64_t>>> tracks;
  for (const auto& e : events()) {
    if (e.at("ph") != "X") continue;
    int64_t start = nanos(e.at("ts"));
    tracks[trackOf(e)].emplace_back(start, start + nanos(e.at("dur")));
  }
  ASSERT_GT(tracks.size(), 5u);
  for (auto& [track, slices] : tracks) {
    std::sort(slices.begin(), slices.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second > b.second;
    });
    std::vector<int64_t> open;
    for (const auto& [start, end] : slices) {
      while (!open.empty() && open.back() <= start) open.pop_back();
      EXPECT_TRUE(open.empty() || end <= open.back())
          << "slice [" << start << ", " << end << ") partially overlaps one ending at "
          << open.back() << " on pid " << track.first << " tid " << track.second;
      open.push_back(end);
    }
  }
}

// Replays the file the way Perfetto's JSON importer does: events by timestamp, complete events
// first (the longest first), the rest in file order; a flow event binds to the slice most
// recently begun on its track. Returns, per flow id, the bound start and end events.
std::map<int64_t, std::pair<json, json>> bindFlowsLikePerfetto(const json& events) {
  struct Item {
    int64_t ts, key;
    size_t index;
  };
  std::vector<Item> items;
  for (size_t i = 0; i < events.size(); ++i) {
    const json& e = events[i];
    if (e.at("ph") == "M") continue;
    int64_t key = std::numeric_limits<int64_t>::max();
    if (e.at("ph") == "X") key -= nanos(e.at("dur"));
    items.push_back({nanos(e.at("ts")), key, i});
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return std::tie(a.ts, a.key) < std::tie(b.ts, b.key);
  });
  std::map<std::pair<int64_t, int64_t>, const json*> top;
  std::map<int64_t, std::pair<json, json>> bound;
  for (const Item& item : items) {
    const json& e = events[item.index];
    const std::string ph = e.at("ph");
    if (ph == "X" || ph == "i") top[trackOf(e)] = &e;
    if (ph != "s" && ph != "f") continue;
    auto it = top.find(trackOf(e));
    EXPECT_NE(it, top.end()) << e.dump();
    if (it == top.end()) continue;
    auto& ends = bound[e.at("id").get<int64_t>()];
    (ph == "s" ? ends.first : ends.second) = *it->second;
  }
  return bound;
}

TEST_F(SyntheticExport, EveryFlowHasOneStartAndOneEnd) {
  std::map<int64_t, std::pair<int, int>> ends;
  for (const auto& e : events()) {
    if (e.at("ph") == "s") ++ends[e.at("id").get<int64_t>()].first;
    if (e.at("ph") == "f") {
      ++ends[e.at("id").get<int64_t>()].second;
      EXPECT_EQ(e.at("bp"), "e") << "binds to the enclosing slice";
    }
  }
  EXPECT_EQ(ends.size(), 9u);
  for (const auto& [id, count] : ends) {
    EXPECT_EQ(count, std::make_pair(1, 1)) << "flow " << id;
  }
}

TEST_F(SyntheticExport, FlowsBindToTheIntendedSlices) {
  auto bound = bindFlowsLikePerfetto(events());
  ASSERT_EQ(bound.size(), 9u);
  std::map<uint64_t, uint64_t> externalOf;
  for (const auto& c : trace_->correlations) externalOf[c.correlationId] = c.externalId;
  std::map<std::string, int> byCategory;
  for (const auto& [id, ends] : bound) {
    const auto& [start, end] = ends;
    ASSERT_TRUE(start.is_object() && end.is_object()) << "flow " << id;
    const std::string startCategory = start.at("cat");
    const std::string endCategory = end.at("cat");
    if (endCategory == "transfer") {
      EXPECT_EQ(startCategory, "expert_cache") << "flow " << id;
      EXPECT_EQ(start.at("args").at("transfer"), end.at("args").at("transfer"));
      ++byCategory["cache"];
      continue;
    }
    EXPECT_TRUE(endCategory == "kernel" || endCategory == "gpu_memcpy") << end.dump();
    uint64_t correlation = end.at("args").at("correlation");
    if (startCategory == "cpu_op") {
      EXPECT_EQ(start.at("args").at("correlation").get<uint64_t>(), externalOf.at(correlation))
          << start.at("name") << " -> " << end.at("name");
      ++byCategory["operator"];
    } else {
      EXPECT_EQ(startCategory, "cuda_runtime") << start.dump();
      EXPECT_EQ(start.at("args").at("correlation").get<uint64_t>(), correlation);
      ++byCategory["api"];
    }
  }
  EXPECT_EQ(byCategory, (std::map<std::string, int>{{"api", 4}, {"cache", 2}, {"operator", 3}}));
}

TEST_F(SyntheticExport, CountersAreInTimeOrderPerTrack) {
  std::map<std::pair<int64_t, std::string>, std::vector<int64_t>> series;
  for (const auto& e : events()) {
    if (e.at("ph") == "C") series[{e.at("pid"), e.at("name")}].push_back(nanos(e.at("ts")));
  }
  ASSERT_TRUE(series.count({1, "memory"})) << "host memory";
  ASSERT_TRUE(series.count({100, "memory"})) << "GPU 0 memory";
  ASSERT_TRUE(series.count({1, "expert cache layer 1"}));
  ASSERT_TRUE(series.count({1, "expert cache all layers"}));
  for (const auto& [key, times] : series) {
    EXPECT_TRUE(std::is_sorted(times.begin(), times.end())) << key.second;
  }
  std::vector<int64_t> allocated;
  std::vector<double> hitRate;
  for (const auto& e : events()) {
    if (e.at("ph") != "C" || e.at("pid") != 1) continue;
    if (e.at("name") == "memory") allocated.push_back(e.at("args").at("allocated_bytes"));
    if (e.at("name") == "expert cache all layers") hitRate.push_back(e.at("args").at("hit_rate"));
  }
  EXPECT_EQ(allocated, (std::vector<int64_t>{1000, 3000, 2000, 0}));
  // hit, miss, miss (layer 3), hit: cumulative over all layers.
  EXPECT_EQ(hitRate, (std::vector<double>{1.0, 0.5, 0.333333, 0.5}));
}

TEST_F(SyntheticExport, EveryTrackAndProcessIsNamed) {
  std::set<std::pair<int64_t, int64_t>> namedThreads;
  std::set<int64_t> namedProcesses;
  std::map<int64_t, std::string> processNames;
  for (const auto& e : events()) {
    if (e.at("ph") != "M") continue;
    if (e.at("name") == "thread_name") namedThreads.insert(trackOf(e));
    if (e.at("name") == "process_name") {
      namedProcesses.insert(e.at("pid").get<int64_t>());
      processNames[e.at("pid")] = e.at("args").at("name");
    }
  }
  for (const auto& e : events()) {
    if (e.at("ph") == "M") continue;
    EXPECT_TRUE(namedThreads.count(trackOf(e))) << e.dump();
    EXPECT_TRUE(namedProcesses.count(e.at("pid").get<int64_t>())) << e.dump();
  }
  EXPECT_EQ(processNames,
            (std::map<int64_t, std::string>{{1, "Host"}, {100, "GPU 0"}, {101, "GPU 1"}}));
  std::set<std::string> threadNames;
  for (const auto& e : events()) {
    if (e.at("ph") == "M" && e.at("name") == "thread_name")
      threadNames.insert(e.at("args").at("name"));
  }
  for (const char* name :
       {"main", "main \xC2\xB7 NVTX", "main \xC2\xB7 NVTX \xC2\xB7 overlap 1",
        "main \xC2\xB7 overlap 1", "thread 102", "stream 7", "stream 13", "expert cache",
        "expert transfers", "expert transfers \xC2\xB7 overlap 1", "routing", "counters"}) {
    EXPECT_TRUE(threadNames.count(name)) << name;
  }
}

TEST_F(SyntheticExport, HostComesFirstAndTracksHaveSortIndices) {
  std::map<int64_t, int64_t> processOrder;
  std::set<std::pair<int64_t, int64_t>> sorted, named;
  for (const auto& e : events()) {
    if (e.at("ph") != "M") continue;
    if (e.at("name") == "process_sort_index")
      processOrder[e.at("pid")] = e.at("args").at("sort_index");
    if (e.at("name") == "thread_sort_index") sorted.insert(trackOf(e));
    if (e.at("name") == "thread_name") named.insert(trackOf(e));
  }
  EXPECT_EQ(processOrder, (std::map<int64_t, int64_t>{{1, 0}, {100, 1}, {101, 2}}));
  EXPECT_EQ(sorted, named);
}

TEST_F(SyntheticExport, CacheAndRoutingAreInstantsWithArgs) {
  int cache = 0, routing = 0;
  for (const auto& e : events()) {
    if (e.at("ph") != "i") continue;
    if (e.at("cat") == "expert_cache") {
      ++cache;
      for (const char* key : {"layer", "expert", "slot", "action"})
        EXPECT_TRUE(e.at("args").contains(key));
    }
    if (e.at("cat") == "routing") {
      ++routing;
      EXPECT_EQ(e.at("args").at("tokens_per_expert").size(), 4u);
    }
  }
  EXPECT_EQ(cache, 6);
  EXPECT_EQ(routing, 2);
}

TEST_F(PerfettoWriterTest, GzipOutputInflatesToTheSameJson) {
  Trace trace = moeprof::testing::syntheticTrace();
  PerfettoWriter writer(trace);
  auto stats = writer.writeFile(dir_ / "trace.json.gz", false);
  std::string compressed = readFile(dir_ / "trace.json.gz");
  EXPECT_EQ(stats.bytes, static_cast<int64_t>(compressed.size()));
  ASSERT_GE(compressed.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(compressed[0]), 0x1f);
  EXPECT_EQ(gunzip(compressed), writer.json());
  writer.writeFile(dir_ / "trace.json", false);
  EXPECT_EQ(readFile(dir_ / "trace.json"), writer.json());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2)
      << "no temporary left behind";
}

TEST_F(PerfettoWriterTest, RefusesToReplaceWithoutPermissionAndKeepsTheFile) {
  Trace trace = moeprof::testing::syntheticTrace();
  PerfettoWriter writer(trace);
  std::ofstream(dir_ / "out.json") << "keep me";
  std::string message =
      moeprof::testing::inputErrorMessage([&] { writer.writeFile(dir_ / "out.json", false); });
  EXPECT_NE(message.find("--force"), std::string::npos) << message;
  EXPECT_EQ(readFile(dir_ / "out.json"), "keep me");
  writer.writeFile(dir_ / "out.json", true);
  EXPECT_EQ(readFile(dir_ / "out.json"), writer.json());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(PerfettoWriterTest, RefusesAMissingDirectory) {
  Trace trace = moeprof::testing::syntheticTrace();
  std::string message = moeprof::testing::inputErrorMessage(
      [&] { PerfettoWriter(trace).writeFile(dir_ / "missing" / "out.json", false); });
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
}

TEST_F(PerfettoWriterTest, AFailedWriteLeavesNoFile) {
  Trace trace = moeprof::testing::syntheticTrace();
  PerfettoWriter writer(trace);
  {
    moeprof::testing::FileSizeLimit limit(4096);  // below the export's size: write(2) fails
    EXPECT_THROW(writer.writeFile(dir_ / "big.json", false), std::runtime_error);
    std::ofstream(dir_ / "old.json") << "old";
    EXPECT_THROW(writer.writeFile(dir_ / "old.json", true), std::runtime_error);
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1)
      << "neither the output nor a temporary";
  EXPECT_EQ(readFile(dir_ / "old.json"), "old") << "the file --force would replace is intact";
}

// Fails on the n-th write, like a disk that fills up.
class FailingSink final : public OutputSink {
 public:
  explicit FailingSink(int failAt) : left_(failAt) {}
  void write(const char*, size_t) override {
    if (--left_ <= 0) throw std::runtime_error("disk full");
  }

 private:
  int left_;
};

TEST(BackgroundSinkTest, PassesChunksOnInOrderAndReportsErrors) {
  StringSink strings;
  {
    BackgroundSink background(strings, 2);
    for (int i = 0; i < 100; ++i)
      background.write(std::to_string(i).data(), std::to_string(i).size());
    background.finish();
  }
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += std::to_string(i);
  EXPECT_EQ(strings.text(), expected);

  FailingSink failing(3);
  BackgroundSink background(failing, 1);
  EXPECT_THROW(
      {
        for (int i = 0; i < 100; ++i) background.write("x", 1);
        background.finish();
      },
      std::runtime_error);
}

TEST_F(PerfettoWriterTest, AnEmptyTraceIsAValidDocument) {
  Trace empty;
  json document = json::parse(PerfettoWriter(empty).json());
  EXPECT_EQ(document.at("displayTimeUnit"), "ns");
  // The host process is always named, so the file opens as an empty trace.
  EXPECT_EQ(document.at("traceEvents").size(), 2u);
}

TEST(JsonTextWriterTest, FormatsNumbersExactly) {
  StringSink sink;
  JsonTextWriter out(sink);
  out.micros(0);
  out.put(' ');
  out.micros(1'234'567);
  out.put(' ');
  out.micros(-1'500);
  out.put(' ');
  out.micros(std::numeric_limits<int64_t>::max());
  out.put(' ');
  out.ratio(5, 6);
  out.put(' ');
  out.ratio(2, 2);
  out.put(' ');
  out.ratio(0, 0);
  out.put(' ');
  out.i64(std::numeric_limits<int64_t>::min());
  out.flush();
  EXPECT_EQ(sink.text(),
            "0.000 1234.567 -1.500 9223372036854775.807 0.833333 1.000000 0.000000 "
            "-9223372036854775808");
}

TEST(JsonTextWriterTest, StringsLongerThanAChunkSurvive) {
  StringSink sink;
  JsonTextWriter out(sink);
  std::string longName(JsonTextWriter::kChunkBytes + 10, 'a');
  longName[5] = '"';
  out.raw("x");
  out.string(longName);
  out.flush();
  EXPECT_EQ(json::parse(sink.text().substr(1)).get<std::string>(), longName);
}

}  // namespace
}  // namespace moeprof::collector
