// `moeprof report` end to end on tiny runs, a sweep and a trace: what it writes (HTML that is
// well-formed and references nothing outside itself, Markdown with chart files beside it, JSON
// with its format and version), incomplete runs reported as far as they go, and bad input
// that exits 2 and writes nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/markup_check.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using testing::checkMarkup;
using testing::countOf;
using testing::runMoeprof;

std::string readFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ReportCommandTest : public testing::TempDirTest {
 protected:
  void run(const std::string& args, const std::string& out) {
    auto result = runMoeprof("run " + args + " --repeats 2 --warmup 0 --out " + path(out));
    ASSERT_EQ(result.exitCode, 0) << result.output;
  }
  // Runs `report`, expecting success; returns report.html.
  std::string report(const std::string& inputs, const std::string& out) {
    auto result = runMoeprof("report " + inputs + " --out " + path(out));
    EXPECT_EQ(result.exitCode, 0) << result.output;
    EXPECT_NE(result.output.find("report: " + path(out) + "/report.html"), std::string::npos)
        << result.output;
    return readFile(path(out) + "/report.html");
  }
};

// Self-contained: no link, script, stylesheet, image or font leaves the file.
void expectSelfContained(const std::string& html) {
  EXPECT_EQ(checkMarkup(html), "");
  for (const char* outside :
       {"http:", "https:", "src=", "<script", "url(", "@import", "<link", "file:", "<img"}) {
    EXPECT_EQ(html.find(outside), std::string::npos) << outside;
  }
}

TEST_F(ReportCommandTest, StaticRunGetsEveryRunChartInThreeFormats) {
  ASSERT_NO_FATAL_FAILURE(run("--preset lm-tiny --gating static", "run"));
  const std::string html = report(path("run"), "out");
  expectSelfContained(html);
  for (const char* part :
       {"Run run", "Where the time goes: lm forward", "Peak memory per configuration",
        "Tokens per expert and layer, one forward pass", "Tokens per expert and pass",
        "Static gating: padding and drops per expert", "padding and drops per batch",
        "Expert Buffering miss rate, lm layers", "belady (optimal floor)",
        "Tokens per device, lm layers", "Max Load", "Routing statistics per stack"}) {
    EXPECT_NE(html.find(part), std::string::npos) << part;
  }
  EXPECT_GE(countOf(html, "<svg "), 8u);
  const auto json = nlohmann::json::parse(readFile(path("out") + "/report.json"));
  EXPECT_EQ(json["format"], "moeprof-report");
  EXPECT_EQ(json["schema_version"], 1);
  size_t charts = 0;
  for (const auto& section : json["sections"]) {
    for (const auto& block : section["blocks"]) charts += block["type"] == "chart";
  }
  EXPECT_EQ(charts, countOf(html, "<svg "));
  const std::string md = readFile(path("out") + "/report.md");
  EXPECT_NE(md.find("| preset |"), std::string::npos);
  size_t images = 0;
  for (const auto& entry : fs::directory_iterator(path("out") + "/report-charts")) {
    const std::string name = "report-charts/" + entry.path().filename().string();
    EXPECT_NE(md.find("](" + name + ")"), std::string::npos) << name;
    EXPECT_EQ(checkMarkup(readFile(entry.path())), "") << name;
    ++images;
  }
  EXPECT_EQ(images, charts);
}

TEST_F(ReportCommandTest, DroppedTokensOfTheRunAddUpInThePerExpertChart) {
  ASSERT_NO_FATAL_FAILURE(run("--preset lm-tiny --gating static", "run"));
  report(path("run"), "out");
  const auto manifest = nlohmann::json::parse(readFile(path("run") + "/run.json"));
  const auto json = nlohmann::json::parse(readFile(path("out") + "/report.json"));
  for (const auto& section : json["sections"]) {
    for (const auto& block : section["blocks"]) {
      if (block["type"] != "chart" || block["chart"]["id"] != "capacity-expert-run") continue;
      double kept = 0, padding = 0, dropped = 0;
      for (const auto& d : block["chart"]["series"][0]["data"]) kept += d["y"].get<double>();
      for (const auto& d : block["chart"]["series"][1]["data"]) padding += d["y"].get<double>();
      for (const auto& d : block["chart"]["series"][2]["data"]) dropped += d["y"].get<double>();
      const auto& forward = manifest["metrics"]["forward"];
      EXPECT_EQ(dropped, forward["dropped_assignments"].get<double>());
      EXPECT_EQ(kept + padding, forward["expert_rows_computed"].get<double>());
      return;
    }
  }
  FAIL() << "no capacity-expert-run chart";
}

TEST_F(ReportCommandTest, SweepShowsSpeedupsBesideThePaper) {
  auto result = runMoeprof(
      "sweep --preset mt-tiny --gating static,dynamic --batch 4 --repeats 2 "
      "--out " +
      path("sweep"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  const std::string html = report(path("sweep"), "out");
  expectSelfContained(html);
  for (const char* part :
       {"Measured beside the paper", "Dynamic over static gating: throughput",
        "paper \u00b7 mt-tiny encoder b4: 5.75x", "Where the time goes: mt decoder", "Every run",
        "Routing of mt-tiny-dynamic-b4", "dec 1"}) {
    EXPECT_NE(html.find(part), std::string::npos) << part;
  }
}

TEST_F(ReportCommandTest, DefaultOutputIsTheInputDirectory) {
  ASSERT_NO_FATAL_FAILURE(run("--preset lm-tiny --gating dynamic", "run"));
  auto result = runMoeprof("report " + path("run"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_TRUE(fs::exists(path("run") + "/report.html"));
  EXPECT_TRUE(fs::exists(path("run") + "/report.md"));
  EXPECT_TRUE(fs::exists(path("run") + "/report.json"));
}

TEST_F(ReportCommandTest, TraceFileAndTracedRunShowTheMemoryTimeline) {
  ASSERT_NO_FATAL_FAILURE(run("--preset lm-tiny --trace full", "run"));
  for (const std::string& input : {path("run"), path("run") + "/trace.sqlite"}) {
    const std::string html = report(input, "out");
    expectSelfContained(html);
    EXPECT_NE(html.find("Memory timeline"), std::string::npos) << input;
    EXPECT_NE(html.find("Events in the trace"), std::string::npos) << input;
    EXPECT_NE(html.find("Operators, longest first"), std::string::npos) << input;
  }
}

TEST_F(ReportCommandTest, IncompleteRunIsReportedAsFarAsItGoesAndMarked) {
  ASSERT_NO_FATAL_FAILURE(run("--preset mt-tiny --gating static", "run"));
  auto manifest = nlohmann::json::parse(readFile(path("run") + "/run.json"));
  manifest["status"] = "incomplete";
  manifest["metrics"] = nlohmann::json::object();
  std::ofstream(path("run") + "/run.json") << manifest.dump();
  const auto log = path("run") + "/routing.bin";
  fs::resize_file(log, fs::file_size(log) - 3);  // killed while writing a record
  const std::string html = report(path("run"), "out");
  expectSelfContained(html);
  EXPECT_NE(html.find("is incomplete"), std::string::npos);
  EXPECT_NE(html.find("class=\"warning\""), std::string::npos);
  EXPECT_NE(html.find("routing log stops early"), std::string::npos);
  EXPECT_NE(html.find("Tokens per expert and layer"), std::string::npos);
}

TEST_F(ReportCommandTest, BadInputExitsTwoAndWritesNothing) {
  ASSERT_NO_FATAL_FAILURE(run("--preset lm-tiny --gating static", "run"));
  auto missing = runMoeprof("report " + path("nope") + " --out " + path("out"));
  EXPECT_EQ(missing.exitCode, 2) << missing.output;
  EXPECT_NE(missing.output.find(path("nope") + " does not exist"), std::string::npos);
  EXPECT_FALSE(fs::exists(path("out")));

  // A good run beside a corrupt one: nothing is written for either.
  fs::copy(path("run"), path("bad"), fs::copy_options::recursive);
  std::ofstream(path("bad") + "/run.json") << "{ not json";
  auto corrupt = runMoeprof("report " + path("run") + " " + path("bad") + " --out " + path("out"));
  EXPECT_EQ(corrupt.exitCode, 2) << corrupt.output;
  EXPECT_NE(corrupt.output.find(path("bad") + "/run.json"), std::string::npos) << corrupt.output;
  EXPECT_FALSE(fs::exists(path("out")));

  // A routing log whose header is garbage: corrupt. (A log cut inside its last record is a
  // killed run's torn tail: read up to it, with a warning.)
  fs::remove_all(path("bad"));
  fs::copy(path("run"), path("bad"), fs::copy_options::recursive);
  {
    std::fstream log(path("bad") + "/routing.bin", std::ios::in | std::ios::out | std::ios::binary);
    log.write("garbage!", 8);
  }
  auto garbled = runMoeprof("report " + path("bad") + " --out " + path("out"));
  EXPECT_EQ(garbled.exitCode, 2) << garbled.output;
  EXPECT_NE(garbled.output.find("routing.bin"), std::string::npos) << garbled.output;
  EXPECT_FALSE(fs::exists(path("out")));

  std::ofstream(path("not-a-trace.sqlite")) << "hello";
  auto trace = runMoeprof("report " + path("not-a-trace.sqlite") + " --out " + path("out"));
  EXPECT_EQ(trace.exitCode, 2) << trace.output;
  EXPECT_FALSE(fs::exists(path("out")));

  fs::create_directories(path("empty"));
  auto empty = runMoeprof("report " + path("empty") + " --out " + path("out"));
  EXPECT_EQ(empty.exitCode, 2) << empty.output;
  EXPECT_NE(empty.output.find("holds no run directory"), std::string::npos) << empty.output;
  EXPECT_FALSE(fs::exists(path("out")));
}

TEST_F(ReportCommandTest, ReproduceEndsInTheHtmlReport) {
  auto result = runMoeprof("reproduce --scale tiny --repeats 2 --out " + path("r"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NE(result.output.find("html report: " + path("r") + "/report.html"), std::string::npos)
      << result.output;
  const std::string html = readFile(path("r") + "/report.html");
  expectSelfContained(html);
  for (const char* part :
       {"Measured beside the paper", "Dynamic over static gating",
        "Where the time goes: mt encoder", "Peak memory per configuration",
        "Static gating: padding and drops per expert", "Tokens per device, decoder layers"}) {
    EXPECT_NE(html.find(part), std::string::npos) << part;
  }
}

}  // namespace
}  // namespace moeprof
