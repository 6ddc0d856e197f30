#include "workloads/run/memory_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "collector/errors.h"
#include "kernels/device_query.h"

namespace moeprof::workloads {

namespace {

constexpr double kFloatBytes = 4;
// Tensors of the residual stream alive at once around a block (input, norm, attention output,
// residual sums, projections): a generous count, the big buffers are counted on their own.
constexpr double kResidualTensors = 8;

// An MoE layer's own buffers for `tokens` tokens. Static gating builds (S, E, C) combine
// weights and dispatch mask (fairseq's allocation spike, the paper's point) and an (E, C, d)
// batch with its FFN hidden; dynamic gating permutes the k copies of every token.
double moeLayerBytes(const ModelConfig& m, const RunOptions& o, double tokens) {
  const double d = static_cast<double>(m.dModel), ffn = static_cast<double>(m.ffnDim);
  const double experts = static_cast<double>(m.numExperts), k = static_cast<double>(m.topK);
  if (o.gating == GatingMode::Static) {
    double slots = o.capacityMode == kernels::CapacityMode::Eval
                       ? m.capacityFactor * tokens
                       : m.capacityFactor * k * tokens / experts;
    double capacity = std::max(1.0, std::ceil(slots));
    return (2 * tokens * experts * capacity + experts * capacity * (2 * d + ffn)) * kFloatBytes;
  }
  return 2 * tokens * k * (2 * d + ffn) * kFloatBytes;
}

// The largest activations of one rank's batch: `sequences` of `length` tokens.
double batchActivationBytes(const ModelConfig& m, const RunOptions& o, double sequences,
                            double length) {
  const double tokens = sequences * length;
  const double d = static_cast<double>(m.dModel);
  double attention = 3 * sequences * static_cast<double>(m.heads) * length * length * kFloatBytes;
  double ffn = 2 * tokens * static_cast<double>(m.ffnDim) * kFloatBytes;
  if (m.moe) ffn = std::max(ffn, moeLayerBytes(m, o, tokens));
  double logits = m.workload == WorkloadKind::Lm
                      ? tokens * static_cast<double>(m.vocab) * kFloatBytes
                      : sequences * static_cast<double>(m.vocab) * kFloatBytes;  // one step
  return kResidualTensors * tokens * d * kFloatBytes + std::max({attention, ffn, logits});
}

int64_t clampedBytes(double bytes) {
  constexpr double kMax = 9.0e18;  // beyond any machine; keeps the sum within int64_t
  return static_cast<int64_t>(std::min(bytes, kMax));
}

std::optional<int64_t> readNumber(const std::string& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<int64_t> memAvailableBytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    int64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

// What a cgroup memory limit (v2, else v1) leaves this process; nullopt without a limit.
std::optional<int64_t> cgroupRemainingBytes() {
  for (auto [limitFile, usageFile] :
       {std::pair{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
        std::pair{"/sys/fs/cgroup/memory/memory.limit_in_bytes",
                  "/sys/fs/cgroup/memory/memory.usage_in_bytes"}}) {
    auto limit = readNumber(limitFile);
    if (!limit || *limit >= (int64_t{1} << 60)) continue;  // v1 writes "no limit" as ~2^63
    return std::max<int64_t>(0, *limit - readNumber(usageFile).value_or(0));
  }
  return std::nullopt;
}

std::string whatRuns(const ResolvedRun& run) {
  std::string what = run.options.checkpoint.empty()
                         ? "--preset " + run.model.name
                         : "--checkpoint " + run.options.checkpoint.string();
  what +=
      " with --batch " + std::to_string(run.batch) + " and --seq-len " + std::to_string(run.seqLen);
  if (run.model.moe) what += std::string(" (") + gatingName(run.options.gating) + " gating)";
  if (run.options.ranks > 1) what += " on " + std::to_string(run.options.ranks) + " ranks";
  return what;
}

[[noreturn]] void refuse(const ResolvedRun& run, const MemoryEstimate& needed, int64_t available,
                         const std::string& where, const std::string& source) {
  std::string smaller = "choose a smaller preset, --batch or --seq-len";
  if (run.model.moe && run.options.gating == GatingMode::Static) smaller += ", dynamic gating";
  if (run.options.ranks > 1) smaller += ", fewer --ranks";
  throw InputError(whatRuns(run) + " needs about " + describeBytes(needed.totalBytes()) +
                   ": weights " + describeBytes(needed.weightBytes) + " + largest activations " +
                   describeBytes(needed.activationBytes) + "; " + where + " has " +
                   describeBytes(available) + " available (" + source + "). " + smaller +
                   ", or pass --ignore-memory-check to try anyway");
}

}  // namespace

MemoryEstimate estimateRunMemory(const ResolvedRun& run) {
  const ModelConfig& m = run.model;
  const RunOptions& o = run.options;
  const double ranks = static_cast<double>(std::max<int64_t>(1, o.ranks));
  const double sequences = static_cast<double>(run.batch) / ranks;
  double activations = batchActivationBytes(m, o, sequences, static_cast<double>(run.seqLen));
  if (m.workload == WorkloadKind::Lm && o.generateTokens > 0) {
    activations = std::max(activations, batchActivationBytes(m, o, sequences, 1) +
                                            static_cast<double>(m.maxPositions) * sequences *
                                                static_cast<double>(m.dModel) * 2 *
                                                static_cast<double>(m.layers) * kFloatBytes);
  }
  MemoryEstimate estimate;
  estimate.weightBytes = clampedBytes(static_cast<double>(m.weightBytes()) * ranks);
  estimate.activationBytes = clampedBytes(activations * ranks);
  return estimate;
}

std::optional<AvailableMemory> availableHostMemory() {
  auto meminfo = memAvailableBytes();
  auto cgroup = cgroupRemainingBytes();
  if (cgroup && (!meminfo || *cgroup < *meminfo))
    return AvailableMemory{*cgroup, "the cgroup's memory limit"};
  if (meminfo) return AvailableMemory{*meminfo, "MemAvailable in /proc/meminfo"};
  return std::nullopt;
}

void checkRunMemory(const ResolvedRun& run) {
  if (run.options.ignoreMemoryCheck) return;
  const MemoryEstimate needed = estimateRunMemory(run);
  if (run.options.device == "cuda") {
    auto cuda = kernels::queryCudaDevices();
    if (cuda.devices.empty()) return;  // refused with the reason when the device is resolved
    auto total = static_cast<int64_t>(cuda.devices.front().totalMemoryBytes);
    if (needed.totalBytes() > total) {
      refuse(run, needed, total, "GPU 0", cuda.devices.front().name + ", its total memory");
    }
    return;
  }
  auto available = availableHostMemory();
  if (available && needed.totalBytes() > available->bytes) {
    refuse(run, needed, available->bytes, "this machine", available->source);
  }
}

std::string describeBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  char text[64];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return std::string(text) + " (" + std::to_string(bytes) + " bytes)";
}

}  // namespace moeprof::workloads
