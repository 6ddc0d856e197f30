#pragma once
// The "environment" section of run.json: what a measurement ran on, so that two runs can be
// told apart and a number can be traced to its machine, build and library versions.
#include <string>

#include <nlohmann/json.hpp>

namespace moeprof::workloads {

nlohmann::json captureEnvironment(const std::string& device);

}  // namespace moeprof::workloads
