#pragma once
// Whether a run fits in memory, decided before anything is allocated or written: the model's
// weights and its largest activations against what the machine (or, with --device cuda, the GPU)
// has. A run that does not fit is refused with both numbers, rather than allocating for minutes
// until the kernel kills it without a word; --ignore-memory-check tries anyway.
#include <cstdint>
#include <optional>
#include <string>

#include "workloads/run/run_options.h"

namespace moeprof::workloads {

// What a run needs at its peak, every rank on this machine together (each rank builds the whole
// model before keeping its own experts).
struct MemoryEstimate {
  int64_t weightBytes = 0;      // fp32 weights
  int64_t activationBytes = 0;  // the largest activations of a batch: residual stream plus the
                                // biggest of attention scores, FFN/MoE buffers and logits
  int64_t totalBytes() const { return weightBytes + activationBytes; }
};
MemoryEstimate estimateRunMemory(const ResolvedRun& run);

// What this process may still allocate on the host, and where that figure comes from.
struct AvailableMemory {
  int64_t bytes = 0;
  std::string source;  // "MemAvailable in /proc/meminfo", "the cgroup's memory limit"
};
// MemAvailable of /proc/meminfo, lowered to what a cgroup memory limit leaves; nullopt when
// neither can be read.
std::optional<AvailableMemory> availableHostMemory();

// Throws InputError naming the bytes needed and available when the estimate exceeds what the
// host has (with --device cuda: the GPU's memory). Does nothing with
// run.options.ignoreMemoryCheck, or when the available memory cannot be read.
void checkRunMemory(const ResolvedRun& run);

// "193.4 GiB (207660204032 bytes)"
std::string describeBytes(int64_t bytes);

}  // namespace moeprof::workloads
