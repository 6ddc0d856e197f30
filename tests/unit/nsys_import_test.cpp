#include "analysis/nsys_import.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "analysis/trace_loader.h"
#include "collector/store/trace_store.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "tests/support/nsys_export.h"

namespace moeprof::analysis {
namespace {

// inputErrorMessage, runMoeprof, and the export's schema, rows and ids (nsys_export.h).
using namespace moeprof::testing;

class NsysImportTest : public moeprof::testing::TempDirTest {
 protected:
  // Runs `sql` on a new database at `name`; returns its path.
  std::filesystem::path writeDatabase(const std::string& name, const std::string& sql) const {
    std::filesystem::path file = dir_ / name;
    EXPECT_NO_THROW(moeprof::testing::writeSqliteDatabase(file, sql));
    return file;
  }
  std::filesystem::path writeExport(const std::string& name = "report.sqlite") const {
    std::filesystem::path file = dir_ / name;
    moeprof::testing::writeNsysExport(file);
    return file;
  }
};

TEST(NsysGlobalIdTest, UnpacksHardwareVmProcessAndThread) {
  EXPECT_EQ(unpackNsysGlobalId(0x0102000010000011), (NsysGlobalId{1, 2, 0x10, 0x11}));
  EXPECT_EQ(unpackNsysGlobalId(kRemoteTid), (NsysGlobalId{0x81, 3, 77, 78}));
  EXPECT_EQ(unpackNsysGlobalId(kWorkerTid), (NsysGlobalId{0, 0, 4242, 4243}));
  EXPECT_EQ(unpackNsysGlobalId(0xffffffffffffffff), (NsysGlobalId{0xff, 0xff, 0xffffff, 0xffffff}));
}

TEST(NsysGlobalIdTest, MemoryKindsMoveToCuptiNumbering) {
  EXPECT_EQ(cuptiMemoryKindFromNsys(0), 1);  // pageable
  EXPECT_EQ(cuptiMemoryKindFromNsys(1), 2);  // pinned
  EXPECT_EQ(cuptiMemoryKindFromNsys(2), 3);  // device
  EXPECT_EQ(cuptiMemoryKindFromNsys(6), 7);  // managed static
  EXPECT_EQ(cuptiMemoryKindFromNsys(7), 0);  // nsys's unknown
  EXPECT_EQ(cuptiMemoryKindFromNsys(-1), 0);
  EXPECT_EQ(cuptiMemoryKindFromNsys(200), 0);
}

TEST_F(NsysImportTest, KernelsKeepEveryField) {
  collector::Trace trace = importNsysExport(writeExport());
  ASSERT_EQ(trace.kernels.size(), 2u);
  const collector::KernelEvent& first = trace.kernels[0];  // ordered by start
  EXPECT_EQ(first.name, "void moe::topk_gating<float>(const float *, int)");
  EXPECT_EQ(first.startNs, 1000);
  EXPECT_EQ(first.endNs, 1400);
  EXPECT_EQ(first.deviceId, 0u);
  EXPECT_EQ(first.contextId, 1u);
  EXPECT_EQ(first.streamId, 7u);
  EXPECT_EQ(first.correlationId, 11u);
  EXPECT_EQ(first.gridX, 128);
  EXPECT_EQ(first.gridY, 1);
  EXPECT_EQ(first.blockX, 128);
  EXPECT_EQ(first.blockY, 2);
  EXPECT_EQ(first.registersPerThread, 32);
  EXPECT_EQ(first.staticSharedBytes, 512);
  EXPECT_EQ(first.dynamicSharedBytes, 0);
  const collector::KernelEvent& second = trace.kernels[1];
  EXPECT_EQ(second.name, "void expert_ffn<half>(half *)");
  EXPECT_EQ(second.correlationId, 21u);
  EXPECT_EQ(second.gridX, 64);
  EXPECT_EQ(second.gridY, 2);
  EXPECT_EQ(second.blockX, 256);
  EXPECT_EQ(second.registersPerThread, 40);
  EXPECT_EQ(second.staticSharedBytes, 1024);
  EXPECT_EQ(second.dynamicSharedBytes, 49152);
}

TEST_F(NsysImportTest, CopiesAndMemsetsKeepKindsInCuptiNumbering) {
  collector::Trace trace = importNsysExport(writeExport());
  ASSERT_EQ(trace.memcpys.size(), 3u);
  const collector::MemcpyEvent& upload = trace.memcpys[0];
  EXPECT_EQ(upload.startNs, 500);
  EXPECT_EQ(upload.endNs, 600);
  EXPECT_EQ(upload.streamId, 13u);
  EXPECT_EQ(upload.correlationId, 31u);
  EXPECT_EQ(upload.bytes, 1048576);
  EXPECT_EQ(upload.copyKind, static_cast<uint8_t>(collector::CopyKind::HostToDevice));
  EXPECT_EQ(upload.srcKind, 1);       // CUPTI pageable (nsys 0)
  EXPECT_EQ(upload.dstKind, 3);       // CUPTI device (nsys 2)
  EXPECT_EQ(upload.srcDeviceId, -1);  // not a peer copy
  EXPECT_EQ(upload.dstDeviceId, -1);
  const collector::MemcpyEvent& peer = trace.memcpys[1];
  EXPECT_EQ(peer.copyKind, static_cast<uint8_t>(collector::CopyKind::PeerToPeer));
  EXPECT_EQ(peer.srcDeviceId, 0);
  EXPECT_EQ(peer.dstDeviceId, 1);
  EXPECT_EQ(peer.streamId, 14u);
  const collector::MemcpyEvent& download = trace.memcpys[2];
  EXPECT_EQ(download.copyKind, static_cast<uint8_t>(collector::CopyKind::DeviceToHost));
  EXPECT_EQ(download.srcKind, 3);
  EXPECT_EQ(download.dstKind, 2);  // CUPTI pinned (nsys 1)

  ASSERT_EQ(trace.memsets.size(), 1u);
  EXPECT_EQ(trace.memsets[0].startNs, 700);
  EXPECT_EQ(trace.memsets[0].endNs, 750);
  EXPECT_EQ(trace.memsets[0].correlationId, 41u);
  EXPECT_EQ(trace.memsets[0].value, 255u);
  EXPECT_EQ(trace.memsets[0].bytes, 8192);
}

TEST_F(NsysImportTest, ApiCallsAreRuntimeAndDriverWithThreadIdsUnpacked) {
  collector::Trace trace = importNsysExport(writeExport());
  // cuBLAS (class 29) and the backtrace copy of a call (class 67) are not CUDA API calls.
  ASSERT_EQ(trace.apiCalls.size(), 4u);
  const collector::ApiEvent& copy = trace.apiCalls[0];
  EXPECT_EQ(copy.name, "cudaMemcpyAsync_v3020");
  EXPECT_EQ(copy.startNs, 480);
  EXPECT_EQ(copy.endNs, 495);
  EXPECT_EQ(copy.correlationId, 31u);
  EXPECT_EQ(copy.returnValue, 1);
  EXPECT_EQ(copy.threadId, 4243u);
  EXPECT_EQ(copy.api, collector::ApiEvent::Api::Runtime);
  const collector::ApiEvent& launch = trace.apiCalls[1];
  EXPECT_EQ(launch.name, "cudaLaunchKernel_v7000");
  EXPECT_EQ(launch.correlationId, trace.kernels[0].correlationId);
  const collector::ApiEvent& driver = trace.apiCalls[2];
  EXPECT_EQ(driver.name, "cuLaunchKernel");
  EXPECT_EQ(driver.api, collector::ApiEvent::Api::Driver);
  EXPECT_EQ(driver.threadId, 4242u);  // the main thread
  EXPECT_EQ(driver.correlationId, trace.kernels[1].correlationId);
  EXPECT_EQ(trace.apiCalls[3].threadId, 78u);  // hardware id with the top bit set
  EXPECT_EQ(trace.meta.at("nsys.other_api_rows"), "2");
  EXPECT_EQ(trace.meta.at("nsys.pids"), "77,4242");
}

TEST_F(NsysImportTest, NvtxRangesAndMarksGetTextsDomainsAndThreads) {
  collector::Trace trace = importNsysExport(writeExport());
  // The category row, the domain creation and the range never popped are not ranges.
  ASSERT_EQ(trace.ranges.size(), 5u);
  const collector::RangeEvent& gate = trace.ranges[0];
  EXPECT_EQ(gate.text, "gate");   // registered string, through textId
  EXPECT_EQ(gate.domain, "moe");  // named by the NvtxDomainCreate row
  EXPECT_EQ(gate.startNs, 100);
  EXPECT_EQ(gate.endNs, 400);
  EXPECT_EQ(gate.threadId, 4243u);
  EXPECT_FALSE(gate.isMark);
  const collector::RangeEvent& experts = trace.ranges[1];
  EXPECT_EQ(experts.text, "experts");  // unregistered string, in text
  EXPECT_EQ(experts.domain, "");       // the default domain
  EXPECT_EQ(experts.endNs, 300);
  const collector::RangeEvent& batch = trace.ranges[2];  // start/end range, started on main
  EXPECT_EQ(batch.text, "batch 0");
  EXPECT_EQ(batch.threadId, 4242u);
  EXPECT_EQ(batch.endNs, 900);
  const collector::RangeEvent& mark = trace.ranges[3];
  EXPECT_TRUE(mark.isMark);
  EXPECT_EQ(mark.text, "checkpoint");
  EXPECT_EQ(mark.startNs, 500);
  EXPECT_EQ(mark.endNs, 500);
  EXPECT_EQ(trace.ranges[4].domain, "domain 9");  // no NvtxDomainCreate row names it
  EXPECT_EQ(trace.meta.at("nsys.unclosed_nvtx_ranges"), "1");
}

TEST_F(NsysImportTest, MetaNamesSourceClockGpusThreadsAndVersions) {
  collector::Trace trace = importNsysExport(writeExport());
  EXPECT_EQ(trace.meta.at("source"), "nsys");
  EXPECT_EQ(trace.meta.at("time_unit"), "ns");
  EXPECT_NE(trace.meta.at("clock").find("nsys"), std::string::npos);
  EXPECT_EQ(trace.meta.at("nsys.EXPORT_PRODUCT_VERSION"), "2024.6.2.225");
  EXPECT_EQ(trace.meta.at("nsys.EXPORT_SCHEMA_VERSION"), "3.16.1");
  EXPECT_EQ(trace.meta.at("nsys.session_start_utc_ns"), "1700000000123456789");
  EXPECT_EQ(trace.meta.at("thread_name.4243"), "worker");
  // TARGET_INFO_CUDA_DEVICE maps nsys's GPU numbers to the CUDA device ids kernels carry.
  EXPECT_EQ(trace.meta.at("gpu.count"), "2");
  EXPECT_EQ(trace.meta.at("gpu.0.name"), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(trace.meta.at("gpu.0.sm_count"), "132");
  EXPECT_EQ(trace.meta.at("gpu.0.compute_capability"), "9.0");
  EXPECT_EQ(trace.meta.at("gpu.0.total_memory_bytes"), "85520809984");
  EXPECT_EQ(trace.meta.at("gpu.0.bus_location"), "0000:19:00.0");
  EXPECT_EQ(trace.meta.at("gpu.0.uuid"), "GPU-bbbb");
  EXPECT_EQ(trace.meta.at("gpu.0.memory_bandwidth_bytes_per_s"), "3352320000000");
  EXPECT_EQ(trace.meta.at("gpu.0.clock_rate_hz"), "1980000000");
  EXPECT_EQ(trace.meta.at("gpu.1.name"), "NVIDIA A100-SXM4-40GB");
  EXPECT_EQ(trace.meta.at("gpu.1.compute_capability"), "8.0");
}

TEST_F(NsysImportTest, GpuMemoryUsageBecomesRunningTotals) {
  collector::Trace trace = importNsysExport(writeExport());
  ASSERT_EQ(trace.memory.size(), 3u);
  EXPECT_EQ(trace.memory[0].bytes, 1000);
  EXPECT_EQ(trace.memory[1].totalAllocatedBytes, 1500);
  EXPECT_EQ(trace.memory[2].bytes, -1000);
  EXPECT_EQ(trace.memory[2].totalAllocatedBytes, 500);
  EXPECT_EQ(trace.memory[2].totalReservedBytes, 500);
  EXPECT_EQ(trace.memory[2].address, 4096u);
  EXPECT_EQ(trace.memory[2].deviceType, 1);
  EXPECT_EQ(trace.memory[2].deviceIndex, 0);
  EXPECT_TRUE(trace.operators.empty());  // nsys has no LibTorch operators
  EXPECT_TRUE(trace.routing.empty());
}

TEST_F(NsysImportTest, MissingTablesAndOlderColumnsAreNotErrors) {
  // An export with NVTX only, and a kernel table of an older nsys without shortName,
  // greenContextId and the launch-config columns.
  auto file = writeDatabase(
      "nvtx-only.sqlite",
      "CREATE TABLE StringIds (id INTEGER NOT NULL PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT "
      "NULL, text TEXT, globalTid INTEGER);"
      "INSERT INTO NVTX_EVENTS VALUES (5, 9, 59, 'step', 71168954515);"
      "CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INTEGER NOT NULL, end INTEGER NOT NULL, "
      "deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL, "
      "correlationId INTEGER, demangledName INTEGER NOT NULL);"
      "INSERT INTO StringIds VALUES (1, 'old_kernel');"
      "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (1, 2, 0, 1, 7, 3, 1);");
  collector::Trace trace = importNsysExport(file);
  ASSERT_EQ(trace.ranges.size(), 1u);
  EXPECT_EQ(trace.ranges[0].text, "step");
  EXPECT_EQ(trace.ranges[0].threadId, 4243u);
  ASSERT_EQ(trace.kernels.size(), 1u);
  EXPECT_EQ(trace.kernels[0].name, "old_kernel");
  EXPECT_EQ(trace.kernels[0].gridX, 0);
  EXPECT_TRUE(trace.memcpys.empty());
  EXPECT_TRUE(trace.memsets.empty());
  EXPECT_TRUE(trace.apiCalls.empty());
  EXPECT_TRUE(trace.memory.empty());
  EXPECT_EQ(trace.meta.count("gpu.count"), 0u);
  EXPECT_EQ(trace.meta.at("source"), "nsys");
}

TEST_F(NsysImportTest, ForeignAndBrokenFilesAreInputErrorsNamingTheFile) {
  std::filesystem::path missing = dir_ / "missing.sqlite";
  EXPECT_NE(inputErrorMessage([&] { importNsysExport(missing); }).find(missing.string()),
            std::string::npos);

  std::filesystem::path text = dir_ / "notes.txt";
  std::ofstream(text) << "this is not a database, just some text long enough to be a header\n";
  std::string notSqlite = inputErrorMessage([&] { importNsysExport(text); });
  EXPECT_NE(notSqlite.find(text.string()), std::string::npos) << notSqlite;
  EXPECT_NE(notSqlite.find("nsys export --type sqlite"), std::string::npos) << notSqlite;

  auto foreign = writeDatabase("foreign.sqlite", "CREATE TABLE notes (body TEXT);");
  std::string neither = inputErrorMessage([&] { importNsysExport(foreign); });
  EXPECT_NE(neither.find(foreign.string()), std::string::npos) << neither;
  EXPECT_NE(neither.find("neither a moeprof trace store"), std::string::npos) << neither;

  std::filesystem::path empty = dir_ / "empty.sqlite";
  std::ofstream{empty};
  EXPECT_NE(inputErrorMessage([&] { importNsysExport(empty); }).find("neither"), std::string::npos);

  auto store = dir_ / collector::kTraceFileName;
  collector::TraceWriter(store).close();
  std::string moeprofStore = inputErrorMessage([&] { importNsysExport(store); });
  EXPECT_NE(moeprofStore.find("moeprof trace store"), std::string::npos) << moeprofStore;
}

TEST_F(NsysImportTest, BadColumnsAndValuesAreInputErrors) {
  auto noStart =
      writeDatabase("no-start.sqlite",
                    "CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT);"
                    "CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (begin INTEGER, end INTEGER);");
  std::string message = inputErrorMessage([&] { importNsysExport(noStart); });
  EXPECT_NE(message.find("CUPTI_ACTIVITY_KIND_MEMSET"), std::string::npos) << message;
  EXPECT_NE(message.find("'start'"), std::string::npos) << message;

  auto negativeDevice = writeDatabase(
      "negative-device.sqlite",
      std::string(kNsysSchema) +
          "INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET (start, end, deviceId, contextId, streamId, "
          "value, bytes) VALUES (1, 2, -1, 1, 7, 0, 8);");
  message = inputErrorMessage([&] { importNsysExport(negativeDevice); });
  EXPECT_NE(message.find("negative-device.sqlite"), std::string::npos) << message;
  EXPECT_NE(message.find("-1"), std::string::npos) << message;
}

TEST_F(NsysImportTest, LoadTraceReadsExportsToo) {
  collector::Trace trace = loadTrace(writeExport());
  EXPECT_EQ(trace.meta.at("source"), "nsys");
  EXPECT_EQ(trace.kernels.size(), 2u);
}

TEST_F(NsysImportTest, SummaryCommandPrintsTheKernelTable) {
  auto file = writeExport();
  auto result = runMoeprof("summary " + file.string());
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_NE(result.output.find("GPU kernels (2 launches"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("void expert_ffn<half>(half *)"), std::string::npos);
  EXPECT_NE(result.output.find("NVIDIA H100 80GB HBM3"), std::string::npos);
  EXPECT_NE(result.output.find("PtoP"), std::string::npos);

  auto json = runMoeprof("summary --json --top 1 " + file.string());
  ASSERT_EQ(json.exitCode, 0) << json.output;
  nlohmann::json parsed = nlohmann::json::parse(json.output);
  EXPECT_EQ(parsed["source"], "nsys");
  EXPECT_EQ(parsed["kernels"]["count"], 2);
  EXPECT_EQ(parsed["kernels"]["top"].size(), 1u);
  EXPECT_EQ(parsed["kernels"]["top"][0]["name"], "void expert_ffn<half>(half *)");  // 600 ns
  EXPECT_EQ(parsed["kernels"]["omitted"], 1);
}

TEST_F(NsysImportTest, SummaryCommandRejectsBadInputWithExitTwo) {
  auto missing = runMoeprof("summary " + path("nowhere.sqlite"));
  EXPECT_EQ(missing.exitCode, 2) << missing.output;
  EXPECT_NE(missing.output.find(path("nowhere.sqlite")), std::string::npos) << missing.output;

  std::ofstream(path("notes.txt")) << "plain text, not a trace, long enough to fill a header....\n";
  auto text = runMoeprof("summary " + path("notes.txt"));
  EXPECT_EQ(text.exitCode, 2) << text.output;
  EXPECT_NE(text.output.find("notes.txt"), std::string::npos) << text.output;

  auto emptyRun = runMoeprof("summary " + dir_.string());
  EXPECT_EQ(emptyRun.exitCode, 2) << emptyRun.output;
  EXPECT_NE(emptyRun.output.find("trace.sqlite"), std::string::npos) << emptyRun.output;

  auto badTop = runMoeprof("summary --top -3 " + writeExport().string());
  EXPECT_EQ(badTop.exitCode, 2) << badTop.output;
}

}  // namespace
}  // namespace moeprof::analysis
