#pragma once
// A small Nsight Systems export (`nsys export --type sqlite`, export schema 3.16.1): the tables
// and columns moeprof reads, in nsys's order, and rows with kernels, copies, a memset, runtime
// calls, GPU memory, NVTX ranges and an OS runtime call. Shared by the importer's unit tests and
// the dashboard's tests.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace moeprof::testing {

// Tables as Nsight Systems 2024.6 writes them (`nsys export --type sqlite`, export schema
// 3.16.1): the same table and column names and order, trimmed of nothing we read.
constexpr const char* kNsysSchema = R"sql(
CREATE TABLE StringIds (id INTEGER NOT NULL PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ThreadNames (nameId INTEGER NOT NULL, priority INTEGER, globalTid INTEGER);
CREATE TABLE PROCESSES (globalPid INTEGER, pid INTEGER, name TEXT);
CREATE TABLE ANALYSIS_DETAILS (globalVid INTEGER NOT NULL, duration INTEGER NOT NULL,
  startTime INTEGER NOT NULL, stopTime INTEGER NOT NULL);
CREATE TABLE TARGET_INFO_SESSION_START_TIME (utcEpochNs INTEGER, utcTime TEXT, localTime TEXT);
CREATE TABLE TARGET_INFO_GPU (vmId INTEGER NOT NULL, id INTEGER NOT NULL, name TEXT,
  busLocation TEXT, isDiscrete INTEGER, l2CacheSize INTEGER, totalMemory INTEGER,
  memoryBandwidth INTEGER, clockRate INTEGER, smCount INTEGER, pwGpuId INTEGER, uuid TEXT,
  luid INTEGER, chipName TEXT, cuDevice INTEGER, ctxswDevPath TEXT, ctrlDevPath TEXT,
  revision INTEGER, nodeMask INTEGER, constantMemory INTEGER, maxIPC INTEGER,
  maxRegistersPerBlock INTEGER, maxShmemPerBlock INTEGER, maxShmemPerBlockOptin INTEGER,
  maxShmemPerSm INTEGER, maxRegistersPerSm INTEGER, threadsPerWarp INTEGER,
  asyncEngines INTEGER, maxWarpsPerSm INTEGER, maxBlocksPerSm INTEGER,
  maxThreadsPerBlock INTEGER, maxBlockDimX INTEGER, maxBlockDimY INTEGER, maxBlockDimZ INTEGER,
  maxGridDimX INTEGER, maxGridDimY INTEGER, maxGridDimZ INTEGER, computeMajor INTEGER,
  computeMinor INTEGER, smMajor INTEGER, smMinor INTEGER);
CREATE TABLE TARGET_INFO_CUDA_DEVICE (gpuId INTEGER, cudaId INTEGER, pid INTEGER, uuid TEXT,
  numMultiprocessors INTEGER);
CREATE TABLE META_DATA_EXPORT (name TEXT NOT NULL, value TEXT);
CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INTEGER NOT NULL, end INTEGER NOT NULL,
  deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, greenContextId INTEGER,
  streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER,
  demangledName INTEGER NOT NULL, shortName INTEGER NOT NULL, mangledName INTEGER,
  launchType INTEGER, cacheConfig INTEGER, registersPerThread INTEGER NOT NULL,
  gridX INTEGER NOT NULL, gridY INTEGER NOT NULL, gridZ INTEGER NOT NULL,
  blockX INTEGER NOT NULL, blockY INTEGER NOT NULL, blockZ INTEGER NOT NULL,
  staticSharedMemory INTEGER NOT NULL, dynamicSharedMemory INTEGER NOT NULL,
  localMemoryPerThread INTEGER NOT NULL, localMemoryTotal INTEGER NOT NULL,
  gridId INTEGER NOT NULL, sharedMemoryExecuted INTEGER, graphNodeId INTEGER,
  sharedMemoryLimitConfig INTEGER);
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER NOT NULL, end INTEGER NOT NULL,
  deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, greenContextId INTEGER,
  streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER, bytes INTEGER NOT NULL,
  copyKind INTEGER NOT NULL, deprecatedSrcId INTEGER, srcKind INTEGER, dstKind INTEGER,
  srcDeviceId INTEGER, srcContextId INTEGER, dstDeviceId INTEGER, dstContextId INTEGER,
  migrationCause INTEGER, graphNodeId INTEGER, virtualAddress INTEGER);
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (start INTEGER NOT NULL, end INTEGER NOT NULL,
  deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, greenContextId INTEGER,
  streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER, value INTEGER NOT NULL,
  bytes INTEGER NOT NULL, graphNodeId INTEGER, memKind INTEGER);
CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start INTEGER NOT NULL, end INTEGER NOT NULL,
  eventClass INTEGER NOT NULL, globalTid INTEGER, correlationId INTEGER,
  nameId INTEGER NOT NULL, returnValue INTEGER NOT NULL, callchainId INTEGER);
CREATE TABLE CUDA_GPU_MEMORY_USAGE_EVENTS (start INTEGER NOT NULL, globalPid INTEGER NOT NULL,
  deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, address INTEGER NOT NULL,
  pc INTEGER NOT NULL, bytes INTEGER NOT NULL, memKind INTEGER NOT NULL,
  memoryOperationType INTEGER NOT NULL, name TEXT, correlationId INTEGER, streamId INTEGER,
  localMemoryPoolAddress INTEGER, localMemoryPoolReleaseThreshold INTEGER,
  localMemoryPoolSize INTEGER, localMemoryPoolUtilizedSize INTEGER,
  importedMemoryPoolAddress INTEGER, importedMemoryPoolProcessId INTEGER);
CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL,
  rangeId INTEGER, category INTEGER, color INTEGER, text TEXT, globalTid INTEGER,
  endGlobalTid INTEGER, textId INTEGER, domainId INTEGER, uint64Value INTEGER,
  int64Value INTEGER, doubleValue REAL, uint32Value INTEGER, int32Value INTEGER,
  floatValue REAL, jsonTextId INTEGER, jsonText TEXT, binaryData TEXT);
CREATE TABLE OSRT_API (start INTEGER NOT NULL, end INTEGER NOT NULL,
  eventClass INTEGER NOT NULL, globalTid INTEGER, nameId INTEGER NOT NULL,
  returnValue INTEGER NOT NULL, nestingLevel INTEGER, callchainId INTEGER NOT NULL);
CREATE TABLE ENUM_CUDA_MEMCPY_OPER (id INTEGER NOT NULL PRIMARY KEY, name TEXT, label TEXT);
)sql";

// pid 4242, tid 4243 (a worker thread) and the main thread (tid = pid), as nsys serializes them.
constexpr int64_t kPid = 4242;
constexpr int64_t kWorkerTid = (kPid << 24) | 4243;
constexpr int64_t kMainTid = (kPid << 24) | kPid;
constexpr int64_t kGlobalPid = kPid << 24;
// Hardware id 0x81 sets the top bit: SQLite holds it as a negative integer.
constexpr uint64_t kRemoteTid = (uint64_t{0x81} << 56) | (uint64_t{3} << 48) | (77u << 24) | 78u;

// The rows: each value differs from its neighbours, so a column read from the wrong place shows.
constexpr const char* kNsysRows = R"sql(
INSERT INTO StringIds VALUES (1, 'void moe::topk_gating<float>(const float *, int)'),
  (2, 'topk_gating'), (3, 'cudaLaunchKernel_v7000'), (4, 'cuLaunchKernel'),
  (5, 'gate'), (6, 'worker'), (7, 'cublasSgemm_v2'), (8, 'void expert_ffn<half>(half *)'),
  (9, 'expert_ffn'), (10, 'cudaMemcpyAsync_v3020'), (11, 'read');
INSERT INTO META_DATA_EXPORT VALUES ('EXPORT_PRODUCT_VERSION', '2024.6.2.225'),
  ('EXPORT_SCHEMA_VERSION', '3.16.1');
INSERT INTO TARGET_INFO_SESSION_START_TIME VALUES (1700000000123456789, 'utc', 'local');
INSERT INTO ThreadNames VALUES (6, 0, 71168954515);
INSERT INTO PROCESSES VALUES (71168950272, 4242, 'python3');
INSERT INTO ANALYSIS_DETAILS VALUES (0, 5000, 0, 5000);
INSERT INTO TARGET_INFO_GPU (vmId, id, name, busLocation, totalMemory, memoryBandwidth,
  clockRate, smCount, uuid, cuDevice, computeMajor, computeMinor)
  VALUES (0, 0, 'NVIDIA A100-SXM4-40GB', '0000:07:00.0', 42505273344, 1555200000000,
    1410000000, 108, 'GPU-aaaa', 0, 8, 0),
  (0, 1, 'NVIDIA H100 80GB HBM3', '0000:19:00.0', 85520809984, 3352320000000, 1980000000, 132,
    'GPU-bbbb', 1, 9, 0);
-- CUDA_VISIBLE_DEVICES=1,0: the H100 (nsys GPU 1) is CUDA device 0.
INSERT INTO TARGET_INFO_CUDA_DEVICE VALUES (1, 0, 4242, 'GPU-bbbb', 132),
  (0, 1, 4242, 'GPU-aaaa', 108);
INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL (start, end, deviceId, contextId, greenContextId,
  streamId, correlationId, globalPid, demangledName, shortName, mangledName, launchType,
  cacheConfig, registersPerThread, gridX, gridY, gridZ, blockX, blockY, blockZ,
  staticSharedMemory, dynamicSharedMemory, localMemoryPerThread, localMemoryTotal, gridId,
  sharedMemoryExecuted, graphNodeId, sharedMemoryLimitConfig)
  VALUES (2000, 2600, 0, 1, NULL, 7, 21, 71168950272, 8, 9, NULL, 0, 0, 40, 64, 2, 1, 256, 1,
    1, 1024, 49152, 0, 0, 12, 65536, NULL, NULL),
  (1000, 1400, 0, 1, NULL, 7, 11, 71168950272, 1, 2, NULL, 0, 0, 32, 128, 1, 1, 128, 2, 1,
    512, 0, 0, 0, 11, 0, NULL, NULL);
INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY (start, end, deviceId, contextId, streamId,
  correlationId, globalPid, bytes, copyKind, srcKind, dstKind, srcDeviceId, srcContextId,
  dstDeviceId, dstContextId)
  VALUES (500, 600, 0, 1, 13, 31, 71168950272, 1048576, 1, 0, 2, 0, 1, 0, 1),
  (3000, 3200, 0, 1, 14, 32, 71168950272, 4096, 10, 2, 2, 0, 1, 1, 2),
  (3300, 3310, 0, 1, 13, 33, 71168950272, 64, 2, 2, 1, 0, 1, 0, 1);
INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET (start, end, deviceId, contextId, streamId,
  correlationId, globalPid, value, bytes, memKind)
  VALUES (700, 750, 0, 1, 7, 41, 71168950272, 255, 8192, 2);
INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES
  (990, 1010, 0, 71168954515, 11, 3, 0, NULL),
  (1990, 2010, 1, 71168954514, 21, 4, 0, NULL),
  (480, 495, 0, 71168954515, 31, 10, 1, NULL),
  (100, 120, 29, 71168954515, 0, 7, 0, NULL),
  (985, 1011, 67, 71168954515, 11, 3, 0, 5);
INSERT INTO CUDA_GPU_MEMORY_USAGE_EVENTS (start, globalPid, deviceId, contextId, address, pc,
  bytes, memKind, memoryOperationType)
  VALUES (10, 71168950272, 0, 1, 4096, 0, 1000, 2, 0),
  (20, 71168950272, 0, 1, 8192, 0, 500, 2, 0),
  (30, 71168950272, 0, 1, 4096, 0, 1000, 2, 1);
INSERT INTO NVTX_EVENTS (start, end, eventType, rangeId, category, color, text, globalTid,
  endGlobalTid, textId, domainId)
  VALUES (50, NULL, 75, NULL, NULL, NULL, 'moe', 71168954515, NULL, NULL, 7),
  (60, NULL, 33, NULL, 1, NULL, 'routing', 71168954515, NULL, NULL, 7),
  (100, 400, 59, NULL, NULL, NULL, NULL, 71168954515, NULL, 5, 7),
  (150, 300, 59, NULL, NULL, 4278190335, 'experts', 71168954515, NULL, NULL, 0),
  (200, 900, 60, 1, NULL, NULL, 'batch 0', 71168954514, 71168954515, NULL, 0),
  (500, NULL, 34, NULL, NULL, NULL, 'checkpoint', 71168954514, NULL, NULL, 0),
  (600, 650, 59, NULL, NULL, NULL, 'other domain', 71168954515, NULL, NULL, 9),
  (800, NULL, 59, NULL, NULL, NULL, 'never popped', 71168954515, NULL, NULL, 0);
INSERT INTO OSRT_API VALUES (10, 20, 27, 71168954515, 11, 0, 0, 1);
INSERT INTO ENUM_CUDA_MEMCPY_OPER VALUES (1, 'CUDA_MEMCPY_KIND_HTOD', 'Host-to-Device');
)sql";

static_assert(kWorkerTid == 71168954515);
static_assert(kMainTid == 71168954514);
static_assert(kGlobalPid == 71168950272);

// Runs `sql` on a new SQLite database at `file`; throws with SQLite's message on an error.
inline void writeSqliteDatabase(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot create " + file.string());
  }
  char* error = nullptr;
  const int code = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  if (code != SQLITE_OK) throw std::runtime_error(file.string() + ": " + message);
}

// The export above, plus a runtime call of a remote thread (another VM's ids).
inline void writeNsysExport(const std::filesystem::path& file) {
  writeSqliteDatabase(file, std::string(kNsysSchema) + kNsysRows +
                                "INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (4000, 4100, 0, " +
                                std::to_string(static_cast<int64_t>(kRemoteTid)) +
                                ", 51, 3, 0, NULL);");
}

}  // namespace moeprof::testing
