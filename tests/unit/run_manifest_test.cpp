#include "collector/run_manifest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <regex>

#include "collector/errors.h"
#include "tests/support/input_error.h"

namespace moeprof::collector {
namespace {

// A fresh directory per test, removed afterwards.
class RunManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("moeprof_run_manifest_" + std::to_string(::getpid()) + "_" + info->name() + "_" +
            std::to_string(std::random_device{}()));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static RunManifest sample() {
    RunManifest manifest;
    manifest.status = RunStatus::Complete;
    manifest.tool = "moeprof 0.1.0";
    manifest.createdAt = "2026-11-23T14:05:00Z";
    manifest.config = {{"workload", "mt"}, {"gating", {{"mode", "dynamic"}}}, {"batch", 8}};
    manifest.environment = {{"device", "cpu"}, {"threads", 2}};
    manifest.metrics = {{"encoder", {{"latency_ms", {{"median", 12.5}}}}}};
    manifest.files = {{"routing", kRoutingLogFileName}};
    return manifest;
  }

  void writeText(const std::string& text) const {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / kManifestFileName) << text;
  }

  nlohmann::json sampleJson() const {
    writeManifest(dir_, sample());
    std::ifstream in(dir_ / kManifestFileName);
    return nlohmann::json::parse(in);
  }

  std::string readErrorMessage() const {
    return moeprof::testing::inputErrorMessage([&] { readManifest(dir_); });
  }

  std::filesystem::path dir_;
};

TEST_F(RunManifestTest, RoundTripThroughDirectoryAndFilePath) {
  writeManifest(dir_, sample());  // also creates the missing directory
  for (const auto& path : {dir_, dir_ / kManifestFileName}) {
    RunManifest read = readManifest(path);
    EXPECT_EQ(read.status, RunStatus::Complete);
    EXPECT_EQ(read.tool, "moeprof 0.1.0");
    EXPECT_EQ(read.createdAt, "2026-11-23T14:05:00Z");
    EXPECT_EQ(read.config, sample().config);
    EXPECT_EQ(read.environment, sample().environment);
    EXPECT_EQ(read.metrics, sample().metrics);
    EXPECT_EQ(read.files, sample().files);
  }
}

TEST_F(RunManifestTest, WritesDocumentedKeysPrettyPrinted) {
  nlohmann::json root = sampleJson();
  EXPECT_EQ(root["schema_version"], kRunSchemaVersion);
  EXPECT_EQ(root["status"], "complete");
  EXPECT_EQ(root["created_at"], "2026-11-23T14:05:00Z");
  std::ifstream in(dir_ / kManifestFileName);
  std::string firstLines;
  std::getline(in, firstLines);
  EXPECT_EQ(firstLines, "{");
  std::getline(in, firstLines);
  EXPECT_EQ(firstLines, "  \"schema_version\": 1,");
}

TEST_F(RunManifestTest, OverwriteReplacesAtomicallyAndLeavesNoTemporary) {
  RunManifest manifest = sample();
  manifest.status = RunStatus::Incomplete;
  writeManifest(dir_, manifest);
  EXPECT_EQ(readManifest(dir_).status, RunStatus::Incomplete);
  manifest.status = RunStatus::Complete;
  manifest.metrics["tokens_per_s"] = 321.0;
  writeManifest(dir_, manifest);
  RunManifest read = readManifest(dir_);
  EXPECT_EQ(read.status, RunStatus::Complete);
  EXPECT_EQ(read.metrics["tokens_per_s"], 321.0);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "run.json.tmp"));
}

TEST_F(RunManifestTest, FailedWriteKeepsPreviousManifest) {
  writeManifest(dir_, sample());
  // A directory in the way of the temporary file makes the next write fail before the rename.
  std::filesystem::create_directories(dir_ / "run.json.tmp");
  RunManifest changed = sample();
  changed.tool = "changed";
  EXPECT_THROW(writeManifest(dir_, changed), std::runtime_error);
  EXPECT_EQ(readManifest(dir_).tool, "moeprof 0.1.0");
}

TEST_F(RunManifestTest, MissingManifestIsInputError) {
  std::filesystem::create_directories(dir_);
  std::string message = readErrorMessage();
  EXPECT_NE(message.find("run.json does not exist"), std::string::npos) << message;
  EXPECT_THROW(readManifest(dir_ / "nowhere"), InputError);
}

TEST_F(RunManifestTest, NotJsonIncludesParserMessage) {
  writeText("{\"schema_version\": 1, oops");
  std::string message = readErrorMessage();
  EXPECT_NE(message.find("is not valid JSON"), std::string::npos) << message;
  EXPECT_NE(message.find("parse error"), std::string::npos) << message;
}

TEST_F(RunManifestTest, TopLevelArrayIsRejected) {
  writeText("[1, 2]");
  std::string message = readErrorMessage();
  EXPECT_NE(message.find("JSON object"), std::string::npos) << message;
}

TEST_F(RunManifestTest, WrongSchemaVersionIsRejected) {
  nlohmann::json root = sampleJson();
  root["schema_version"] = 7;
  writeText(root.dump());
  std::string message = readErrorMessage();
  EXPECT_NE(message.find("run.json schema_version 7 is not supported (this moeprof reads 1)"),
            std::string::npos)
      << message;
}

TEST_F(RunManifestTest, MissingKeyIsNamed) {
  for (const char* key : {"schema_version", "status", "tool", "created_at", "config", "environment",
                          "metrics", "files"}) {
    nlohmann::json root = sampleJson();
    root.erase(key);
    writeText(root.dump());
    std::string message = readErrorMessage();
    EXPECT_NE(message.find(std::string("\"") + key + "\" is missing"), std::string::npos)
        << message;
  }
}

TEST_F(RunManifestTest, UnknownStatusAndWrongTypesAreRejected) {
  nlohmann::json root = sampleJson();
  root["status"] = "done";
  writeText(root.dump());
  EXPECT_NE(readErrorMessage().find("status \"done\" is not allowed"), std::string::npos);

  root = sampleJson();
  root["metrics"] = 3;
  writeText(root.dump());
  EXPECT_NE(readErrorMessage().find("\"metrics\" must be a JSON object"), std::string::npos);

  root = sampleJson();
  root["schema_version"] = "1";
  writeText(root.dump());
  EXPECT_NE(readErrorMessage().find("schema_version must be an integer"), std::string::npos);
}

TEST(CurrentUtcTimestamp, IsIso8601WithZulu) {
  std::string timestamp = currentUtcTimestamp();
  EXPECT_TRUE(std::regex_match(timestamp, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)")))
      << timestamp;
  EXPECT_GE(timestamp.substr(0, 4), "2024");
}

}  // namespace
}  // namespace moeprof::collector
