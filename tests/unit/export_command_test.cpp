// `moeprof export --perfetto` end to end: a traced lm-tiny run exports to JSON that holds its
// operators, phase ranges and memory counter; bad input exits 2 and writes nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "collector/store/trace_store.h"
#include "tests/support/moeprof_command.h"
#include "tests/support/synthetic_trace.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::runMoeprof;

class ExportCommandTest : public testing::TempDirTest {
 protected:
  // A run directory with a trace store holding the synthetic trace (no workload run needed).
  fs::path syntheticRun() {
    fs::path run = dir_ / "run";
    fs::create_directories(run);
    collector::Trace trace = testing::syntheticTrace();
    collector::TraceWriter writer(run / collector::kTraceFileName);
    for (const auto& e : trace.operators) writer.append(e);
    for (const auto& e : trace.ranges) writer.append(e);
    for (const auto& e : trace.memory) writer.append(e);
    for (const auto& e : trace.kernels) writer.append(e);
    for (const auto& e : trace.apiCalls) writer.append(e);
    for (const auto& e : trace.correlations) writer.append(e);
    writer.close();
    return run;
  }

  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      names.insert(entry.path().filename().string());
    }
    return names;
  }

  static std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
};

TEST_F(ExportCommandTest, TracedRunExportsOperatorsPhasesAndMemory) {
  auto run = runMoeprof(
      "run --workload lm --preset lm-tiny --gating dynamic --trace full "
      "--repeats 1 --out " +
      path("run"));
  ASSERT_EQ(run.exitCode, 0) << run.output;
  auto result = runMoeprof("export --perfetto " + path("run") + " -o " + path("x.json"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_EQ(result.output.rfind("wrote " + path("x.json") + ": ", 0), 0u) << result.output;
  EXPECT_NE(result.output.find(" events, "), std::string::npos) << result.output;

  json document = json::parse(read(path("x.json")));
  std::set<std::string> operators, ranges, counters;
  for (const auto& e : document.at("traceEvents")) {
    if (e.at("ph") == "X" && e.at("cat") == "cpu_op") operators.insert(e.at("name"));
    if (e.at("ph") == "X" && e.at("cat") == "nvtx") ranges.insert(e.at("name"));
    if (e.at("ph") == "C") counters.insert(e.at("name"));
  }
  EXPECT_TRUE(operators.count("aten::matmul") || operators.count("aten::linear") ||
              operators.count("aten::addmm"))
      << operators.size() << " operator names";
  for (const char* phase : {"lm.forward", "gate", "dispatch", "experts", "combine"}) {
    EXPECT_TRUE(ranges.count(phase)) << phase;
  }
  EXPECT_TRUE(counters.count("memory")) << "--trace full records every allocation";
}

TEST_F(ExportCommandTest, ExportsATraceStoreFileToGzip) {
  fs::path run = syntheticRun();
  auto result = runMoeprof("export --perfetto " + (run / collector::kTraceFileName).string() +
                           " -o " + path("x.json.gz"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  std::string bytes = read(path("x.json.gz"));
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 0x8b);
  EXPECT_EQ(entries(), (std::set<std::string>{"run", "x.json.gz"}));
}

TEST_F(ExportCommandTest, ForceReplacesAnExistingOutput) {
  fs::path run = syntheticRun();
  std::ofstream(path("x.json")) << "old";
  auto result =
      runMoeprof("export --perfetto " + run.string() + " -o " + path("x.json") + " --force");
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NO_THROW(json::parse(read(path("x.json"))));
}

TEST_F(ExportCommandTest, BadInputExitsTwoAndWritesNothing) {
  fs::path run = syntheticRun();
  fs::create_directories(dir_ / "untraced");
  std::ofstream(path("garbage.sqlite")) << "not a database at all";
  std::ofstream(path("existing.json")) << "keep me";
  const std::string out = " -o " + path("out.json");
  struct Case {
    std::string arguments, mentions;
  };
  const Case cases[] = {
      {"export " + run.string() + out, "--perfetto"},
      {"export --perfetto " + path("missing") + out, "does not exist"},
      {"export --perfetto " + path("untraced") + out, "--trace"},
      {"export --perfetto " + path("garbage.sqlite") + out, "garbage.sqlite"},
      {"export --perfetto " + run.string() + " -o " + path("existing.json"), "--force"},
      {"export --perfetto " + run.string() + " -o " + path("nodir/out.json"), "nodir"},
      {"export --perfetto " + run.string() + " -o " + (run / collector::kTraceFileName).string() +
           " --force",
       "trace store being exported"},
      {"export --perfetto " + run.string(), "--out"},
  };
  for (const Case& c : cases) {
    auto result = runMoeprof(c.arguments);
    EXPECT_EQ(result.exitCode, 2) << c.arguments << "\n" << result.output;
    EXPECT_NE(result.output.find(c.mentions), std::string::npos) << c.arguments << "\n"
                                                                 << result.output;
  }
  EXPECT_EQ(entries(),
            (std::set<std::string>{"run", "untraced", "garbage.sqlite", "existing.json"}));
  EXPECT_EQ(read(path("existing.json")), "keep me");
  EXPECT_EQ(runMoeprof("export --perfetto " + run.string() + out).exitCode, 0)
      << "the trace store is intact";
}

TEST_F(ExportCommandTest, HelpDocumentsTheCommand) {
  auto result = runMoeprof("export --help");
  EXPECT_EQ(result.exitCode, 0);
  for (const char* text : {"--perfetto", "--force", "-o,--out", "--rank", "RUN", ".gz", "NVTX",
                           "Flows", "overlap", "Exit codes"}) {
    EXPECT_NE(result.output.find(text), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace moeprof
