#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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
  switch (static_cast<CopyKind>(copyKind)) {
    case CopyKind::HostToDevice:
      return "HtoD";
    case CopyKind::DeviceToHost:
      return "DtoH";
    case CopyKind::DeviceToDevice:
      return "DtoD";
    case CopyKind::HostToHost:
      return "HtoH";
    case CopyKind::PeerToPeer:
      return "PtoP";
    case CopyKind::Unknown:
      break;
  }
  return "unknown";
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
