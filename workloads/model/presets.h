#pragma once
// The embedded model presets: the paper's exact shapes (for large machines), CPU-sized
// versions that keep the paper's experts, top-k, capacity factor, MoE frequency and layer count,
// tiny ones for tests, and the dense counterparts of each.
#include <string>
#include <vector>

#include "workloads/model/model_config.h"

namespace moeprof::workloads {

const std::vector<ModelConfig>& allPresets();

// Throws InputError listing the known presets when `name` is not one.
const ModelConfig& findPreset(const std::string& name);

// The preset a workload runs on when none is named: lm-cpu or mt-cpu.
const char* defaultPresetName(WorkloadKind kind);

}  // namespace moeprof::workloads
