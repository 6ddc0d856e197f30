#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <iterator>

#include "collector/trace_events.h"

namespace moeprof::collector {

int64_t traceClockNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

uint64_t traceThreadId() {
  thread_local const uint64_t id = static_cast<uint64_t>(syscall(SYS_gettid));
  return id;
}

const char* copyKindName(uint8_t copyKind) {
  // CUpti_ActivityMemcpyKind (1-10) and the unified-memory migrations nsys exports add (11-13).
  static constexpr const char* kNames[] = {"unknown", "HtoD",     "DtoH",     "HtoA",    "AtoH",
                                           "AtoA",    "AtoD",     "DtoA",     "DtoD",    "HtoH",
                                           "PtoP",    "UVM HtoD", "UVM DtoH", "UVM DtoD"};
  return copyKind < std::size(kNames) ? kNames[copyKind] : "unknown";
}

const char* cacheActionName(CacheAction action) {
  switch (action) {
    case CacheAction::Hit:
      return "hit";
    case CacheAction::Miss:
      return "miss";
    case CacheAction::Evict:
      return "evict";
    case CacheAction::Prefetch:
      return "prefetch";
  }
  return "unknown";
}

const char* memoryTierName(MemoryTier tier) {
  switch (tier) {
    case MemoryTier::Disk:
      return "disk";
    case MemoryTier::Host:
      return "host";
    case MemoryTier::Device:
      return "device";
  }
  return "unknown";
}

}  // namespace moeprof::collector
