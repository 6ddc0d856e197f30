#pragma once
// Row mappers for the GPU tables whose columns moeprof's trace store shares with Nsight Systems'
// export (collector/store/TRACE_STORE.md), so that TraceReader and the nsys importer read a kernel
// or a memset row the same way. Each expects the query to select the columns in the order listed.
// Includes <sqlite3.h> through sqlite_statement.h: include it only from .cpp files.
#include "collector/store/sqlite_statement.h"
#include "collector/trace_events.h"

namespace moeprof::collector {

// start, end, deviceId, contextId, streamId, correlationId, name, gridX, gridY, gridZ, blockX,
// blockY, blockZ, registersPerThread, staticSharedMemory, dynamicSharedMemory.
inline KernelEvent kernelFromRow(const sqlite::RowReader& row) {
  KernelEvent event;
  event.startNs = row.i64(0);
  event.endNs = row.i64(1);
  event.deviceId = row.narrow<uint32_t>(2);
  event.contextId = row.narrow<uint32_t>(3);
  event.streamId = row.narrow<uint32_t>(4);
  event.correlationId = row.u64(5);
  event.name = row.text(6);
  event.gridX = row.narrow<int32_t>(7);
  event.gridY = row.narrow<int32_t>(8);
  event.gridZ = row.narrow<int32_t>(9);
  event.blockX = row.narrow<int32_t>(10);
  event.blockY = row.narrow<int32_t>(11);
  event.blockZ = row.narrow<int32_t>(12);
  event.registersPerThread = row.narrow<int32_t>(13);
  event.staticSharedBytes = row.narrow<int32_t>(14);
  event.dynamicSharedBytes = row.narrow<int32_t>(15);
  return event;
}

// start, end, deviceId, contextId, streamId, correlationId, value, bytes.
inline MemsetEvent memsetFromRow(const sqlite::RowReader& row) {
  MemsetEvent event;
  event.startNs = row.i64(0);
  event.endNs = row.i64(1);
  event.deviceId = row.narrow<uint32_t>(2);
  event.contextId = row.narrow<uint32_t>(3);
  event.streamId = row.narrow<uint32_t>(4);
  event.correlationId = row.u64(5);
  event.value = row.narrow<uint32_t>(6);
  event.bytes = row.i64(7);
  return event;
}

}  // namespace moeprof::collector
