// A traced run end to end: the trace store of an lm-tiny run holds every phase range, operators
// nested inside them, memory events that balance, and routing summaries that add up.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>

#include "collector/routing_log.h"
#include "collector/run_manifest.h"
#include "collector/store/trace_reader.h"
#include "collector/store/trace_store.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using TracedRunTest = testing::TempDirTest;

TEST_F(TracedRunTest, FullTraceOfLmTiny) {
  auto result = testing::runMoeprof(
      "run --preset lm-tiny --gating static --trace full "
      "--repeats 2 --warmup 1 --out " +
      path("run"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  auto manifest = collector::readManifest(path("run"));
  EXPECT_EQ(manifest.files.at("trace"), collector::kTraceFileName);
  collector::TraceReader trace(fs::path(path("run")) / collector::kTraceFileName);

  auto ranges = trace.ranges();
  std::map<std::string, int> rangeCount;
  for (const auto& r : ranges) ++rangeCount[r.text];
  for (const char* phase : {"gate", "dispatch", "experts", "combine", "attention"}) {
    EXPECT_GT(rangeCount[phase], 0) << phase;
  }
  EXPECT_EQ(rangeCount["lm.forward"], 3) << "one per batch, warm-up included";

  auto operators = trace.operators();
  ASSERT_FALSE(operators.empty());
  EXPECT_TRUE(std::any_of(operators.begin(), operators.end(), [](const auto& op) {
    return op.depth > 0;
  })) << "operators calling operators are nested";
  int inside = 0;
  for (const auto& range : ranges) {
    if (range.text != "lm.forward") continue;
    for (const auto& op : operators) {
      if (op.threadId != range.threadId || op.startNs < range.startNs || op.startNs > range.endNs) {
        continue;
      }
      ++inside;
      EXPECT_LE(op.endNs, range.endNs) << op.name << " starts inside lm.forward but ends after it";
    }
  }
  EXPECT_GT(inside, 0);

  auto memory = trace.memory();
  ASSERT_FALSE(memory.empty());
  int64_t balance = 0;
  for (const auto& event : memory) balance += event.bytes;
  EXPECT_EQ(balance, 0) << "every allocation inside the measurement is freed inside it";

  auto log = collector::readRoutingLog(fs::path(path("run")) / collector::kRoutingLogFileName);
  auto routing = trace.routing();
  ASSERT_EQ(routing.size(), log.records.size());
  for (const auto& event : routing) {
    uint64_t assignments =
        std::accumulate(event.tokensPerExpert.begin(), event.tokensPerExpert.end(), uint64_t{0});
    EXPECT_EQ(assignments, uint64_t{event.tokens} * log.header.topK);
  }
  EXPECT_GT(manifest.metrics.at("trace_events").get<int64_t>(), 0);
}

TEST_F(TracedRunTest, OpsTraceHasNoMemoryEventsAndOffHasNoTrace) {
  ASSERT_EQ(testing::runMoeprof("run --preset mt-tiny --trace ops --repeats 1 --out " + path("ops"))
                .exitCode,
            0);
  collector::TraceReader trace(fs::path(path("ops")) / collector::kTraceFileName);
  EXPECT_FALSE(trace.operators().empty());
  EXPECT_TRUE(trace.memory().empty());
  std::set<std::string> texts;
  for (const auto& r : trace.ranges()) texts.insert(r.text);
  EXPECT_TRUE(texts.count("mt.encoder") && texts.count("mt.decoder_step"));

  ASSERT_EQ(testing::runMoeprof("run --preset mt-tiny --repeats 1 --out " + path("off")).exitCode,
            0);
  EXPECT_FALSE(fs::exists(fs::path(path("off")) / collector::kTraceFileName));
}

}  // namespace
}  // namespace moeprof
