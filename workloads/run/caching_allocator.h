#pragma once
// A caching CPU allocator for LibTorch, the CPU analogue of CUDA's caching allocator: freed
// blocks are kept by size and handed out again, so repeated batches do not pay for fresh pages.
// Without it a measurement is dominated by page faults on big temporaries (static gating's
// (S, E, C) masks cost 0.8 s per 432 MB here just to touch), which a GPU serving stack never
// pays. Allocations are still reported to LibTorch's memory profiler hook, so MemoryTracker
// sees every allocation and free exactly as with the default allocator.
#include <cstddef>

namespace moeprof::workloads {

// Installs the caching allocator as LibTorch's CPU allocator for the rest of the process (the
// allocator must outlive every tensor, so it is never uninstalled). Idempotent.
void installCachingCpuAllocator();

struct CachingAllocatorStats {
  size_t reservedBytes = 0;  // held from the system: in use plus cached
  size_t cachedBytes = 0;    // free, waiting for reuse
};
CachingAllocatorStats cachingAllocatorStats();

}  // namespace moeprof::workloads
