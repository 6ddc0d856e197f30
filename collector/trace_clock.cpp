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

}  // namespace moeprof::collector
