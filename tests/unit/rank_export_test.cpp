// `moeprof export --perfetto` of a multi-rank run: one document with every rank's processes
// labelled and ordered, no pid, tid or flow id shared between ranks, each rank's events exactly
// those of its own one-rank export, on one time axis (a real 2-rank run's all-to-alls overlap
// across ranks); --rank selects ranks, a bad one exits 2 and writes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "collector/perfetto/perfetto_layout.h"
#include "collector/perfetto/perfetto_writer.h"
#include "collector/store/trace_reader.h"
#include "collector/store/trace_store.h"
#include "tests/support/file_size_limit.h"
#include "tests/support/moeprof_command.h"
#include "tests/support/synthetic_trace.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::runMoeprof;

constexpr int64_t kStride = collector::perfetto::kRankPidStride;

int rankOf(const json& event) {
  return static_cast<int>(event.at("pid").get<int64_t>() / kStride);
}

int64_t nanos(const json& microseconds) {
  return std::llround(microseconds.get<double>() * 1000.0);
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

json parseFile(const fs::path& path) {
  return json::parse(readFile(path));
}

// Every event but metadata and flow ids, as text, sorted: what must match between a rank's share
// of a multi-rank export and its own one-rank export (same names, times, durations and args).
std::vector<std::string> eventSignatures(const json& document, int rank) {
  std::vector<std::string> signatures;
  for (json e : document.at("traceEvents")) {
    if (e.at("ph") == "M" || (rank >= 0 && rankOf(e) != rank)) continue;
    e.erase("pid");
    e.erase("tid");
    e.erase("id");
    signatures.push_back(e.dump());
  }
  std::sort(signatures.begin(), signatures.end());
  return signatures;
}

std::map<int64_t, std::string> processNames(const json& document) {
  std::map<int64_t, std::string> names;
  for (const auto& e : document.at("traceEvents")) {
    if (e.at("ph") == "M" && e.at("name") == "process_name") {
      names[e.at("pid").get<int64_t>()] = e.at("args").at("name").get<std::string>();
    }
  }
  return names;
}

// Every thread id belongs to one rank, and every flow's start and end lie in one rank.
void expectRanksShareNoIds(const json& document) {
  std::map<int64_t, std::set<int>> ranksOfTid;
  std::map<uint64_t, std::vector<json>> flows;
  for (const auto& e : document.at("traceEvents")) {
    if (e.contains("tid")) ranksOfTid[e.at("tid").get<int64_t>()].insert(rankOf(e));
    if (e.at("ph") == "s" || e.at("ph") == "f") flows[e.at("id").get<uint64_t>()].push_back(e);
  }
  for (const auto& [tid, ranks] : ranksOfTid) {
    EXPECT_EQ(ranks.size(), 1u) << "thread id " << tid << " is used by " << ranks.size()
                                << " ranks";
  }
  for (const auto& [id, events] : flows) {
    ASSERT_EQ(events.size(), 2u) << "flow " << id;
    EXPECT_NE(events[0].at("ph"), events[1].at("ph")) << "flow " << id << ": a start and an end";
    EXPECT_EQ(rankOf(events[0]), rankOf(events[1])) << "flow " << id << " joins two ranks";
  }
}

// One traced 2-rank run of the tiny LM preset for the whole suite (a few seconds), with expert
// buffering so that each rank also has cache decisions, transfers and flows between them.
class RankExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() /
                         ("moeprof_rank_export_" + std::to_string(getpid())));
    fs::remove_all(*root_);
    fs::create_directories(*root_);
    runResult_ = new testing::CommandResult(runMoeprof(
        "run --preset lm-tiny --repeats 1 --warmup 0 --threads 1 --ranks 2 --gating dynamic "
        "--buffering lifo --cache-slots 2 --trace ops --out " +
        (*root_ / "two").string()));
    both_ = new json;
    if (runResult_->exitCode != 0) return;
    exportResult_ = new testing::CommandResult(
        runMoeprof("export --perfetto " + run().string() + " -o " + bothPath().string()));
    if (exportResult_->exitCode == 0) *both_ = parseFile(bothPath());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete both_;
    delete exportResult_;
    delete runResult_;
    delete root_;
  }
  void SetUp() override {
    ASSERT_EQ(runResult_->exitCode, 0) << runResult_->output;
    ASSERT_EQ(exportResult_->exitCode, 0) << exportResult_->output;
    out_ = *root_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(out_);
  }

  static fs::path bothPath() { return *root_ / "both.json"; }
  // The export of both ranks, written once for the suite.
  static const json& both() { return *both_; }

  // A trace file exported alone, in process: what `moeprof export --perfetto FILE` writes.
  static json exportedAlone(const fs::path& file) {
    collector::Trace trace = collector::TraceReader(file).readAll();
    return json::parse(collector::PerfettoWriter(trace).json());
  }

  static fs::path run() { return *root_ / "two"; }

  // Exports `source` with `flags` to OUT/name and parses it back.
  json exported(const fs::path& source, const std::string& name, const std::string& flags = "") {
    auto result = runMoeprof("export --perfetto " + source.string() + " " + flags + " -o " +
                             (out_ / name).string());
    EXPECT_EQ(result.exitCode, 0) << result.output;
    return parseFile(out_ / name);
  }

  // Each is one part of the tests below; the 2-rank run is made once per test process, and
  // ctest runs every test in a process of its own, so the parts share tests.
  void expectRanksLabelledOrderedWithTheirOwnIds();
  void expectEachRankToHoldTheEventsOfItsOwnExport();
  void expectAllToAllsToOverlapAcrossRanks();
  void expectRankToSelectRanks();
  void expectBadRanksToExitTwoWritingNothing();

  static fs::path* root_;
  static testing::CommandResult* runResult_;
  static testing::CommandResult* exportResult_;
  static json* both_;
  fs::path out_;
};
fs::path* RankExportTest::root_ = nullptr;
testing::CommandResult* RankExportTest::runResult_ = nullptr;
testing::CommandResult* RankExportTest::exportResult_ = nullptr;
json* RankExportTest::both_ = nullptr;

void RankExportTest::expectRanksLabelledOrderedWithTheirOwnIds() {
  const json& both = this->both();
  EXPECT_NE(exportResult_->output.find("2 of 2 ranks"), std::string::npos) << exportResult_->output;
  auto names = processNames(both);
  std::set<std::string> nameSet;
  for (const auto& [pid, name] : names) {
    int rank = static_cast<int>(pid / kStride);
    EXPECT_EQ(name.rfind("rank " + std::to_string(rank) + " \xC2\xB7 ", 0), 0u) << name;
    nameSet.insert(name);
  }
  EXPECT_TRUE(nameSet.count("rank 0 \xC2\xB7 host")) << names.size() << " processes";
  EXPECT_TRUE(nameSet.count("rank 1 \xC2\xB7 host")) << names.size() << " processes";
  EXPECT_EQ(nameSet.size(), names.size()) << "no two processes share a name";

  // Sort indices put every process of rank 0 before every process of rank 1.
  std::map<int, std::pair<int64_t, int64_t>> sortRange;  // rank -> [min, max]
  for (const auto& e : both.at("traceEvents")) {
    if (e.at("ph") != "M" || e.at("name") != "process_sort_index") continue;
    int64_t index = e.at("args").at("sort_index").get<int64_t>();
    auto [it, added] = sortRange.try_emplace(rankOf(e), index, index);
    it->second.first = std::min(it->second.first, index);
    it->second.second = std::max(it->second.second, index);
  }
  ASSERT_EQ(sortRange.size(), 2u);
  EXPECT_LT(sortRange[0].second, sortRange[1].first);

  expectRanksShareNoIds(both);
  std::map<int, int64_t> flowsPerRank;
  for (const auto& e : both.at("traceEvents")) {
    if (e.at("ph") == "s") ++flowsPerRank[rankOf(e)];
  }
  EXPECT_GT(flowsPerRank[0], 0) << "cache misses flow to their transfers";
  EXPECT_GT(flowsPerRank[1], 0) << "cache misses flow to their transfers";
  EXPECT_EQ(both.at("otherData").at("ranks"), json::array({0, 1}));
  EXPECT_EQ(both.at("otherData").at("export.flows").get<int64_t>(),
            flowsPerRank[0] + flowsPerRank[1]);
  EXPECT_EQ(both.at("otherData").at("rank 1").at("rank"), 1);
  // Both ranks ran on this machine in this boot: one CLOCK_MONOTONIC, nothing to warn about.
  const json& data = both.at("otherData");
  ASSERT_TRUE(data.at("rank 0").contains("boot_id"));
  EXPECT_EQ(data.at("rank 0").at("boot_id"), data.at("rank 1").at("boot_id"));
  EXPECT_EQ(exportResult_->output.find("warning"), std::string::npos) << exportResult_->output;
}

void RankExportTest::expectEachRankToHoldTheEventsOfItsOwnExport() {
  const json& both = this->both();
  const fs::path files[] = {run() / collector::kTraceFileName, run() / "trace.rank1.sqlite"};
  for (int rank = 0; rank < 2; ++rank) {
    json alone = exportedAlone(files[rank]);
    EXPECT_EQ(processNames(alone).begin()->second, "Host") << "a trace file alone: as before";
    EXPECT_FALSE(alone.at("otherData").contains("ranks"));
    std::vector<std::string> mine = eventSignatures(both, rank);
    std::vector<std::string> own = eventSignatures(alone, -1);
    EXPECT_GT(own.size(), 100u) << "rank " << rank;
    EXPECT_EQ(mine.size(), own.size()) << "rank " << rank;
    // Same names, args, durations and timestamps: nothing shifted, nothing lost or doubled.
    EXPECT_TRUE(mine == own) << "rank " << rank << "'s events differ from its own export";
  }
}

void RankExportTest::expectAllToAllsToOverlapAcrossRanks() {
  const json& both = this->both();
  // The k-th token (or output) all-to-all of each rank is the same blocking collective: no rank
  // can leave it before the other has entered, so on a common time axis the two ranges intersect.
  for (const char* name : {"moe.all_to_all.tokens", "moe.all_to_all.outputs"}) {
    std::map<int, std::vector<std::pair<int64_t, int64_t>>> exchanges;
    for (const auto& e : both.at("traceEvents")) {
      if (e.at("ph") == "X" && e.at("name") == name) {
        int64_t start = nanos(e.at("ts"));
        exchanges[rankOf(e)].emplace_back(start, start + nanos(e.at("dur")));
      }
    }
    ASSERT_EQ(exchanges.size(), 2u) << name;
    ASSERT_EQ(exchanges[0].size(), exchanges[1].size()) << name;
    ASSERT_GE(exchanges[0].size(), 2u) << name << ": one per MoE layer";
    for (auto& [rank, ranges] : exchanges) std::sort(ranges.begin(), ranges.end());
    for (size_t k = 0; k < exchanges[0].size(); ++k) {
      auto [start0, end0] = exchanges[0][k];
      auto [start1, end1] = exchanges[1][k];
      EXPECT_LE(start0, end1) << name << " " << k << ": rank 0 enters after rank 1 left";
      EXPECT_LE(start1, end0) << name << " " << k << ": rank 1 enters after rank 0 left";
    }
  }
}

void RankExportTest::expectRankToSelectRanks() {
  const json& both = this->both();
  json one = exported(run(), "one.json", "--rank 1");
  for (const auto& [pid, name] : processNames(one)) {
    EXPECT_EQ(pid / kStride, 1) << name;
  }
  EXPECT_EQ(one.at("otherData").at("ranks"), json::array({1}));
  EXPECT_TRUE(eventSignatures(one, 1) == eventSignatures(both, 1));
  EXPECT_EQ(eventSignatures(one, -1).size(), eventSignatures(both, 1).size());

  // A list, repeated, out of order and with a rank twice: still every rank once, in order.
  exported(run(), "all.json", "--rank 1,0 --rank 1");
  EXPECT_EQ(readFile(out_ / "all.json"), readFile(bothPath()));
}

void RankExportTest::expectBadRanksToExitTwoWritingNothing() {
  const fs::path out = out / "bad";
  fs::create_directories(out);
  struct Case {
    fs::path source;
    std::string flags, mentions;
  };
  const Case cases[] = {
      {run(), "--rank 0,2", "--rank 2 is not a rank of"},
      {run(), "--rank -1", "its ranks are 0, 1"},
      {run() / "trace.rank1.sqlite", "--rank 1", "rank 0 only"},
  };
  for (const Case& c : cases) {
    auto result = runMoeprof("export --perfetto " + c.source.string() + " " + c.flags + " -o " +
                             (out / "x.json").string());
    EXPECT_EQ(result.exitCode, 2) << c.flags << "\n" << result.output;
    EXPECT_NE(result.output.find(c.mentions), std::string::npos) << c.flags << "\n"
                                                                 << result.output;
  }
  EXPECT_TRUE(fs::is_empty(out)) << "neither the output nor a temporary";

  // A rank whose trace is unreadable fails the export before OUT is opened.
  fs::copy(run(), out / "broken", fs::copy_options::recursive);
  std::ofstream(out / "broken" / "trace.rank1.sqlite", std::ios::trunc) << "not a database";
  auto result = runMoeprof("export --perfetto " + (out / "broken").string() + " -o " +
                           (out / "x.json").string());
  EXPECT_EQ(result.exitCode, 2) << result.output;
  EXPECT_NE(result.output.find("trace.rank1.sqlite"), std::string::npos) << result.output;
  EXPECT_FALSE(fs::exists(out / "x.json"));
  fs::remove_all(out / "broken");
  EXPECT_TRUE(fs::is_empty(out)) << "no temporary left";
}

TEST_F(RankExportTest, EveryRankIsLabelledWithItsOwnIdsAndEventsOnOneTimeAxis) {
  {
    SCOPED_TRACE("labels, order and ids");
    expectRanksLabelledOrderedWithTheirOwnIds();
  }
  {
    SCOPED_TRACE("events per rank");
    expectEachRankToHoldTheEventsOfItsOwnExport();
  }
  {
    SCOPED_TRACE("time axis");
    expectAllToAllsToOverlapAcrossRanks();
  }
}

TEST_F(RankExportTest, RankSelectsRanksAndABadOneExitsTwoWritingNothing) {
  {
    SCOPED_TRACE("--rank");
    expectRankToSelectRanks();
  }
  {
    SCOPED_TRACE("bad --rank");
    expectBadRanksToExitTwoWritingNothing();
  }
}

// Without a run: the same synthetic trace as two ranks, so that every real thread id and stream
// id collides between them, and each rank has overlap tracks, flows and counters.
TEST(RankedPerfettoWriterTest, CollidingIdsAreRenumberedAndFlowsStayInTheirRank) {
  collector::Trace trace = testing::syntheticTrace();
  collector::PerfettoWriter single(trace);
  json alone = json::parse(single.json());
  collector::PerfettoWriter writer(std::vector<collector::RankedTrace>{{0, &trace}, {3, &trace}});
  std::string text = writer.json();
  json both = json::parse(text);
  expectRanksShareNoIds(both);
  EXPECT_EQ(both.at("traceEvents").size(), 2 * alone.at("traceEvents").size());
  EXPECT_TRUE(eventSignatures(both, 0) == eventSignatures(alone, -1));
  EXPECT_TRUE(eventSignatures(both, 3) == eventSignatures(alone, -1));
  EXPECT_EQ(writer.stats().flows, 2 * single.stats().flows);
  EXPECT_EQ(both.at("otherData").at("export.flows").get<int64_t>(), 2 * single.stats().flows);

  // Rank 0 keeps the one-rank ids; stream 7 of GPU 0 and GPU 1 stays one id within a rank.
  std::set<std::pair<int64_t, int64_t>> tracksAlone, tracksRank0;
  for (const auto& e : alone.at("traceEvents")) {
    if (e.contains("tid"))
      tracksAlone.insert({e.at("pid").get<int64_t>(), e.at("tid").get<int64_t>()});
  }
  for (const auto& e : both.at("traceEvents")) {
    if (e.contains("tid") && rankOf(e) == 0) {
      tracksRank0.insert({e.at("pid").get<int64_t>(), e.at("tid").get<int64_t>()});
    }
  }
  EXPECT_EQ(tracksRank0, tracksAlone);
  auto names = processNames(both);
  EXPECT_EQ(names.at(1), "rank 0 \xC2\xB7 host");
  EXPECT_EQ(names.at(3 * kStride + 1), "rank 3 \xC2\xB7 host");
  EXPECT_EQ(names.at(3 * kStride + 101), "rank 3 \xC2\xB7 GPU 1");
  EXPECT_EQ(collector::PerfettoWriter(std::vector<collector::RankedTrace>{{0, &trace}, {3, &trace}})
                .json(),
            text)
      << "deterministic";
  EXPECT_THROW(
      collector::PerfettoWriter(std::vector<collector::RankedTrace>{{1, &trace}, {1, &trace}}),
      std::invalid_argument);
}

using RankedPerfettoFileTest = testing::TempDirTest;

TEST_F(RankedPerfettoFileTest, AFailedWriteLeavesNoFile) {
  collector::Trace trace = testing::syntheticTrace();
  collector::PerfettoWriter writer(std::vector<collector::RankedTrace>{{0, &trace}, {1, &trace}});
  {
    testing::FileSizeLimit limit(4096);  // below the export's size: write(2) fails mid-export
    EXPECT_THROW(writer.writeFile(dir_ / "ranks.json", false), std::runtime_error);
  }
  EXPECT_TRUE(fs::is_empty(dir_)) << "neither the output nor a temporary";
  writer.writeFile(dir_ / "ranks.json", false);
  EXPECT_EQ(readFile(dir_ / "ranks.json"), writer.json());
}

TEST_F(RankedPerfettoFileTest, RanksOfAnotherBootAreExportedWithAWarning) {
  std::ifstream proc("/proc/sys/kernel/random/boot_id");
  std::string boot;
  std::getline(proc, boot);
  ASSERT_FALSE(boot.empty()) << "Linux has /proc/sys/kernel/random/boot_id";
  for (const char* name : {"trace.sqlite", "trace.rank1.sqlite"}) {
    collector::TraceWriter writer(dir_ / name);
    collector::OperatorEvent op;
    op.name = "aten::mm";
    op.threadId = 7;
    op.startNs = 1000;
    op.endNs = 2000;
    writer.append(op);
    if (std::string(name) == "trace.rank1.sqlite") writer.setMeta("boot_id", "another-boot");
    writer.close();
  }
  EXPECT_EQ(collector::TraceReader(dir_ / "trace.sqlite").meta("boot_id"), boot)
      << "every store records the boot its clock counts from";
  auto result = runMoeprof("export --perfetto " + dir_.string() + " -o " + path("x.json"));
  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NE(result.output.find("warning: rank 1"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("another-boot"), std::string::npos) << result.output;
  json document = parseFile(dir_ / "x.json");
  EXPECT_EQ(document.at("otherData").at("ranks"), json::array({0, 1}));
}

}  // namespace
}  // namespace moeprof
