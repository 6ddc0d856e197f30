// Multi-rank traces: a run of N ranks writes trace.sqlite (rank 0) and trace.rankR.sqlite; the
// loader reads them all, the summary merges them and keeps each rank's share, and `moeprof
// summary` prints both for a real 2-rank run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "analysis/trace_loader.h"
#include "analysis/trace_summary.h"
#include "collector/store/trace_store.h"
#include "reports/trace_summary_report.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "tests/support/synthetic_trace.h"

namespace moeprof::analysis {
namespace {

using moeprof::testing::inputErrorMessage;
using moeprof::testing::op;
using moeprof::testing::runMoeprof;

class RankTracesTest : public moeprof::testing::TempDirTest {
 protected:
  // A trace store with `calls` operators "aten::mm" of `eachNs` on thread `thread`.
  void writeTrace(const std::filesystem::path& file, int calls, int64_t eachNs, uint64_t thread) {
    collector::TraceWriter writer(file);
    for (int i = 0; i < calls; ++i)
      writer.append(op("aten::mm", thread, i * 1000, i * 1000 + eachNs));
    writer.append(op("aten::add", thread, 100, 100 + thread));
    writer.close();
  }
};

TEST_F(RankTracesTest, ARunDirectoryGivesEveryRankAndTheMergeAddsThemUp) {
  writeTrace(dir_ / "trace.sqlite", 3, 200, 11);
  writeTrace(dir_ / "trace.rank1.sqlite", 5, 300, 22);
  auto ranks = loadRankTraces(dir_);
  ASSERT_EQ(ranks.size(), 2u);
  EXPECT_EQ(ranks[0].rank, 0);
  EXPECT_EQ(ranks[1].rank, 1);
  EXPECT_EQ(ranks[1].file.filename(), "trace.rank1.sqlite");
  EXPECT_EQ(ranks[0].trace.operators.size(), 4u);
  EXPECT_EQ(ranks[1].trace.operators.size(), 6u);

  auto merged = mergeRankTraces(ranks);
  EXPECT_EQ(merged.operators.size(), 10u);
  EXPECT_EQ(merged.meta.at("ranks"), "2");

  auto summary = summarizeRankTraces(ranks, {1});
  ASSERT_EQ(summary.ranks.size(), 2u);
  EXPECT_EQ(summary.merged.operatorCalls, 10);
  ASSERT_EQ(summary.merged.operators.size(), 1u);  // top 1
  EXPECT_EQ(summary.merged.operators[0].name, "aten::mm");
  EXPECT_EQ(summary.merged.operators[0].totalNs, 3 * 200 + 5 * 300);
  // Rank summaries keep every row, so that a merged row can show each rank's share.
  EXPECT_EQ(summary.ranks[1].summary.operators.size(), 2u);
  // aten::add runs inside the first aten::mm: self times add up to the outermost operators' time.
  EXPECT_EQ(summary.ranks[0].summary.operatorSelfTotalNs, 3 * 200);
  EXPECT_EQ(summary.ranks[1].summary.operatorSelfTotalNs, 5 * 300);

  std::string text = reports::rankedTraceSummaryText(summary, "run");
  EXPECT_NE(text.find("2 ranks"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 1 self ms"), std::string::npos) << text;
  EXPECT_NE(text.find("trace.rank1.sqlite"), std::string::npos) << text;
  auto json = nlohmann::json::parse(reports::rankedTraceSummaryJson(summary, "run"));
  EXPECT_EQ(json["operators"]["calls"], 10);
  ASSERT_EQ(json["ranks"].size(), 2u);
  EXPECT_EQ(json["ranks"][1]["file"], "trace.rank1.sqlite");
  EXPECT_EQ(json["ranks"][1]["operators"]["calls"], 6);
  EXPECT_EQ(json["ranks"][1]["operators"]["top"].size(), 1u);  // the same top N as the merge
  EXPECT_EQ(json["ranks"][1]["operators"]["top"][0]["total_ns"], 5 * 300);
}

TEST_F(RankTracesTest, AGapInTheRanksOrAListedTraceThatIsMissingIsAnInputError) {
  writeTrace(dir_ / "trace.sqlite", 1, 10, 1);
  writeTrace(dir_ / "trace.rank2.sqlite", 1, 10, 2);
  std::string gap = inputErrorMessage([&] { loadRankTraces(dir_); });
  EXPECT_NE(gap.find("trace.rank1.sqlite"), std::string::npos) << gap;

  // run.json lists the ranks of the run: those are read, and a missing one is named.
  std::filesystem::remove(dir_ / "trace.rank2.sqlite");
  auto result = runMoeprof(
      "run --preset lm-tiny --repeats 1 --warmup 0 --threads 1 --ranks 2 "
      "--trace ops --out " +
      path("two"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_EQ(loadRankTraces(dir_ / "two").size(), 2u);
  std::filesystem::remove(dir_ / "two" / "trace.rank1.sqlite");
  std::string missing = inputErrorMessage([&] { loadRankTraces(dir_ / "two"); });
  EXPECT_NE(missing.find("trace.rank1.sqlite"), std::string::npos) << missing;
  EXPECT_NE(missing.find("missing"), std::string::npos) << missing;
  auto summary = runMoeprof("summary " + path("two"));
  EXPECT_EQ(summary.exitCode, 2) << summary.output;
  EXPECT_NE(summary.output.find("trace.rank1.sqlite"), std::string::npos) << summary.output;
}

TEST_F(RankTracesTest, SummaryOfARealTwoRankRunShowsEachRankAndTheirSum) {
  auto run = runMoeprof(
      "run --preset lm-tiny --repeats 2 --warmup 0 --threads 1 --ranks 2 "
      "--gating dynamic --buffering lifo --cache-slots 2 --trace ops --out " +
      path("two"));
  ASSERT_EQ(run.exitCode, 0) << run.output;
  auto printed = runMoeprof("summary --json --top 5 " + path("two"));
  ASSERT_EQ(printed.exitCode, 0) << printed.output;
  auto json = nlohmann::json::parse(printed.output);
  ASSERT_EQ(json["ranks"].size(), 2u);
  int64_t calls = 0, transfers = 0;
  for (int r = 0; r < 2; ++r) {
    const auto& rank = json["ranks"][r];
    EXPECT_EQ(rank["rank"], r);
    EXPECT_EQ(rank["file"], r == 0 ? "trace.sqlite" : "trace.rank1.sqlite");
    EXPECT_GT(rank["operators"]["calls"].get<int64_t>(), 0) << "rank " << r;
    // Each rank buffers its own experts, so each reads some from its own expert file.
    EXPECT_GT(rank["transfers"]["count"].get<int64_t>(), 0) << "rank " << r;
    calls += rank["operators"]["calls"].get<int64_t>();
    transfers += rank["transfers"]["count"].get<int64_t>();
  }
  EXPECT_EQ(json["operators"]["calls"].get<int64_t>(), calls);
  EXPECT_EQ(json["transfers"]["count"].get<int64_t>(), transfers);
  EXPECT_EQ(json["meta"]["ranks"], "2");

  auto text = runMoeprof("summary " + path("two"));
  ASSERT_EQ(text.exitCode, 0) << text.output;
  for (const char* expected : {"2 ranks", "Ranks", "trace.rank1.sqlite", "rank 0 self ms",
                               "rank 1 self ms", "rank 1 ms"}) {
    EXPECT_NE(text.output.find(expected), std::string::npos) << expected << "\n" << text.output;
  }
  // One rank's trace file alone is still a single trace.
  auto alone = runMoeprof("summary --json " + (dir_ / "two" / "trace.rank1.sqlite").string());
  ASSERT_EQ(alone.exitCode, 0) << alone.output;
  EXPECT_FALSE(nlohmann::json::parse(alone.output).contains("ranks"));
}

}  // namespace
}  // namespace moeprof::analysis
