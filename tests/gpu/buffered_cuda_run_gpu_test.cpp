// `moeprof run --device cuda --buffering` end to end on a GPU: experts wait in pinned host memory
// and run from device slots, and the run computes exactly what the unbuffered cuda run computes
// (the output digest), with the GPU tier's metrics. Built only where LibTorch has CUDA; without
// a CUDA device each test skips, saying why.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/gpu/cuda_device.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

class BufferedCudaRunGpuTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    if (auto reason = testing::noCudaDeviceReason(); !reason.empty()) GTEST_SKIP() << reason;
    TempDirTest::SetUp();
    setenv("MOEPROF_CACHE_DIR", path("cache").c_str(), 1);
  }
  void TearDown() override {
    unsetenv("MOEPROF_CACHE_DIR");
    TempDirTest::TearDown();
  }
  nlohmann::json runJson(const std::string& name) {
    std::ifstream in(dir_ / name / "run.json");
    return nlohmann::json::parse(in);
  }
  std::string lmTinyOnCuda(const std::string& name) {
    return "run --preset lm-tiny --gating dynamic --device cuda --repeats 2 --out " + path(name);
  }
};

TEST_F(BufferedCudaRunGpuTest, BufferedCudaRunsComputeWhatTheUnbufferedCudaRunComputes) {
  auto plain = testing::runMoeprof(lmTinyOnCuda("plain"));
  ASSERT_EQ(plain.exitCode, 0) << plain.output;
  const auto digest = runJson("plain")["metrics"]["output_digest"];
  ASSERT_TRUE(digest.is_string());
  for (const char* options :
       {"--buffering lifo", "--buffering lifo --cache-slots 2 --read-ahead 0",
        "--buffering lru --cache-slots 3 --prefetch pregate", "--buffering belady --cache-slots 2",
        "--buffering fifo --cache-scope global --prefetch all"}) {
    auto buffered = testing::runMoeprof(lmTinyOnCuda("buffered") + " --force " + options);
    ASSERT_EQ(buffered.exitCode, 0) << options << ": " << buffered.output;
    auto json = runJson("buffered");
    EXPECT_EQ(json["metrics"]["output_digest"], digest) << options;
    EXPECT_EQ(json["config"]["buffering"]["tier"], "pinned_host") << options;
    const auto& metrics = json["metrics"]["buffering"];
    EXPECT_EQ(metrics["slow_tier"]["tier"], "pinned_host") << options;
    EXPECT_GT(metrics["slow_tier"]["host_bytes"].get<int64_t>(), 0) << options;
    EXPECT_GT(metrics["misses"].get<uint64_t>(), 0u) << options;
    EXPECT_EQ(metrics["bytes_moved"].get<int64_t>() % 4096, 0) << options;
    EXPECT_GT(metrics["tier_peak_bandwidth_gbps"].get<double>(), 0) << options;
    EXPECT_GT(metrics["achieved_bandwidth_gbps"].get<double>(), 0) << options;
    EXPECT_GT(metrics["static_memory_reduction"].get<double>(), 1.0) << options;
  }
}

}  // namespace
}  // namespace moeprof
