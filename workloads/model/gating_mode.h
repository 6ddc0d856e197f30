#pragma once

namespace moeprof::workloads {

// How an MoE layer dispatches tokens to experts: static capacity buffers (the paper's
// baseline) or dynamic gating (the paper's first optimization).
enum class GatingMode { Static, Dynamic };

inline const char* gatingName(GatingMode mode) {
  return mode == GatingMode::Static ? "static" : "dynamic";
}

}  // namespace moeprof::workloads
