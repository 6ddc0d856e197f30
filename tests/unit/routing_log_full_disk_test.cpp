// A routing log on a full disk (issue 19): the writer only ever leaves whole records (a failed
// write is cut back to the last one), a run that runs out of room leaves a log whose records all
// read back, and a log that ends inside a record (an older writer, a killed run) reads up to its
// last whole record with a warning.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "collector/errors.h"
#include "collector/routing_log.h"
#include "tests/support/file_size_limit.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using collector::RoutingLogHeader;
using collector::RoutingRecord;
using RoutingLogFullDiskTest = testing::TempDirTest;

RoutingLogHeader header() {
  return {"lm-test", 8, 2, {{collector::LayerStack::Lm, 1}, {collector::LayerStack::Lm, 3}}};
}

RoutingRecord record(uint32_t batch, uint32_t tokens) {
  RoutingRecord r{batch, batch % 2, 0, tokens, {}, {}};
  for (uint32_t i = 0; i < tokens * 2; ++i) {
    r.experts.push_back(static_cast<uint16_t>(i % 8));
    r.gateWeights.push_back(0.5f);
  }
  return r;
}

TEST_F(RoutingLogFullDiskTest, AWriterOutOfRoomLeavesOnlyWholeRecords) {
  const fs::path file = dir_ / "routing.bin";
  uint64_t appended = 0;
  {
    testing::FileSizeLimit limit(200 * 1000);  // room for part of the records only
    collector::RoutingLogWriter writer(file, header());
    EXPECT_THROW(
        {
          for (uint32_t batch = 0; batch < 10000; ++batch) {
            writer.append(record(batch, 37));  // 16 + 4 * 74 bytes: never a 64 KiB multiple
            ++appended;
          }
          writer.flush();
        },
        std::runtime_error);
    EXPECT_THROW(writer.append(record(0, 1)), std::runtime_error) << "a failed writer stops";
  }
  auto log = collector::readRoutingLog(file);
  EXPECT_TRUE(log.warning.empty()) << log.warning;
  EXPECT_GT(log.records.size(), 100u);
  EXPECT_LT(log.records.size(), appended);
  for (size_t i = 0; i < log.records.size(); ++i) EXPECT_EQ(log.records[i], record(i, 37));
}

TEST_F(RoutingLogFullDiskTest, ARunOutOfRoomLeavesALogWhoseRecordsAllReadBack) {
  testing::CommandResult result;
  {
    testing::FileSizeLimit limit(150 * 1000);  // the moeprof it starts inherits the limit
    result = testing::runMoeprof(
        "run --preset lm-tiny --repeats 2000 --warmup 0 --threads 1 --out " + path("run"));
  }
  EXPECT_EQ(result.exitCode, 1) << result.output;
  EXPECT_NE(result.output.find("routing log"), std::string::npos) << result.output;
  auto log = collector::readRoutingLog(dir_ / "run" / "routing.bin");
  EXPECT_TRUE(log.warning.empty()) << log.warning;
  EXPECT_GT(log.records.size(), 0u);
}

TEST_F(RoutingLogFullDiskTest, ALogEndingInsideARecordReadsItsWholeRecordsWithAWarning) {
  const fs::path file = dir_ / "routing.bin";
  {
    collector::RoutingLogWriter writer(file, header());
    for (uint32_t batch = 0; batch < 3; ++batch) writer.append(record(batch, 5));
  }
  fs::resize_file(file, fs::file_size(file) - 7);  // the third record loses its end
  auto log = collector::readRoutingLog(file);
  ASSERT_EQ(log.records.size(), 2u);
  EXPECT_NE(log.warning.find("ends inside a record"), std::string::npos) << log.warning;
  EXPECT_NE(log.warning.find(file.string()), std::string::npos) << log.warning;
  // Record by record, a strict reader still names the offset.
  collector::RoutingLogReader strict(file);
  strict.next();
  strict.next();
  EXPECT_THROW(strict.next(), InputError);
}

}  // namespace
}  // namespace moeprof
