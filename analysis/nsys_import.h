#pragma once
// Reads an Nsight Systems SQLite export (`nsys export --type sqlite report.nsys-rep`) as a moeprof
// Trace, so that the summaries and analyses that run on moeprof's own trace stores also run on
// traces of other MoE stacks profiled with nsys. What is read, how nsys values map onto the event
// model and what is left out: collector/store/TRACE_STORE.md, "Reading Nsight Systems exports".
#include <cstdint>
#include <filesystem>

#include "collector/trace_events.h"

namespace moeprof::analysis {

// NVTX_EVENTS.eventType values of Nsight Systems (its ENUM_NSYS_EVENT_TYPE).
inline constexpr int kNsysNvtxMark = 34;
inline constexpr int kNsysNvtxPushPopRange = 59;
inline constexpr int kNsysNvtxStartEndRange = 60;
// The same two kinds of range recorded through nsys's NVTX text path; its own reports count them
// as ranges too.
inline constexpr int kNsysNvtxtPushPopRange = 70;
inline constexpr int kNsysNvtxtStartEndRange = 71;
inline constexpr int kNsysNvtxDomainCreate = 75;

// CUPTI_ACTIVITY_KIND_RUNTIME.eventClass values (ENUM_NSYS_EVENT_CLASS) that are CUDA API calls.
inline constexpr int kNsysCudaRuntimeClass = 0;
inline constexpr int kNsysCudaDriverClass = 1;
inline constexpr int kNsysCudaEglDriverClass = 13;

// Where an nsys event happened. nsys serializes it into one 64-bit integer, the `globalTid`
// (thread events) or `globalPid` (process events, thread bits 0): in hex 0xHHVVPPPPPPTTTTTT,
// bits 56-63 the hardware (host) id, 48-55 the VM id, 24-47 the process id and 0-23 the thread
// id, the kernel's tid that `gettid` returns (the main thread's equals the pid).
struct NsysGlobalId {
  uint32_t hardwareId = 0;
  uint32_t vmId = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  bool operator==(const NsysGlobalId&) const = default;
};
NsysGlobalId unpackNsysGlobalId(uint64_t globalId);

// Nsight Systems numbers memory kinds from 0 = pageable (ENUM_CUDA_MEM_KIND, 7 = unknown);
// moeprof keeps CUPTI's numbering (CUpti_ActivityMemoryKind, 0 = unknown, 1 = pageable, ...).
uint8_t cuptiMemoryKindFromNsys(int64_t nsysMemoryKind);

// Reads the whole export. Every vector is ordered as collector::TraceReader orders its own (by
// start or timestamp, ranges enclosing first); thread ids are the tid bits of globalTid. Tables
// that the export lacks (nsys writes only tables it has data for) give empty vectors, and
// columns that older nsys versions lack take their defaults. trace.meta gets "source" = "nsys",
// "clock", "time_unit", the GPUs ("gpu.0.name", ...), thread names and the export's versions.
// Throws InputError naming the file when it is missing, is not an SQLite database, is a moeprof
// trace store, or is an SQLite database without nsys's tables, and when a value does not fit.
collector::Trace importNsysExport(const std::filesystem::path& file);

}  // namespace moeprof::analysis
