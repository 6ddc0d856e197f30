#pragma once
// The options `run`, `sweep` and `reproduce` share, registered once on any subcommand and turned
// into workloads::RunOptions (enums parsed, unset values left to the preset).
#include <string>

#include <CLI/CLI.hpp>

#include "workloads/run/run_options.h"

namespace moeprof::cli {

class RunFlags {
 public:
  // Registers the model and measurement options (not --gating, --batch, --out).
  void addTo(CLI::App& app);
  // Throws InputError for a bad enum value.
  workloads::RunOptions toRunOptions() const;

 private:
  void addBufferingTo(CLI::App& app);
  workloads::RunOptions options_;
  std::string workload_;
  std::string capacityMode_ = "eval";
  std::string slotOrder_ = "token";
  std::string secondExpert_ = "all";
  std::string allocator_ = "caching";
  std::string trace_ = "off";
  double capacityFactor_ = 0;
  int64_t topK_ = 0;
  int64_t seqLen_ = 0;
  int64_t decodeSteps_ = 0;
  int64_t cacheSlots_ = 0;
  std::string cacheScope_ = "layer";
  std::string prefetch_ = "off";
  CLI::Option* cacheSlotsOption_ = nullptr;
  CLI::Option* cacheScopeOption_ = nullptr;
  CLI::Option* prefetchOption_ = nullptr;
  int64_t ioDepth_ = workloads::BufferingConfig::kDefaultIoDepth;
  CLI::Option* ioDepthOption_ = nullptr;
  int64_t readAhead_ = workloads::BufferingConfig::kDefaultReadAheadBuffers;
  CLI::Option* readAheadOption_ = nullptr;
  CLI::Option* capacityFactorOption_ = nullptr;
  CLI::Option* topKOption_ = nullptr;
  CLI::Option* seqLenOption_ = nullptr;
  CLI::Option* decodeStepsOption_ = nullptr;
};

// Checks of options whose C++ type would take bad text silently ("-1" as a 64-bit seed wraps to
// 2^64 - 1; "0" threads would mean the default): the message names the value and what is
// allowed. A validator runs only on a value that is given, so leaving the option out still
// means its default.
const CLI::Validator& seedValidator();         // 0 .. 2^64 - 1
const CLI::Validator& threadCountValidator();  // 1 .. 4096

workloads::WorkloadKind parseWorkload(const std::string& text);
workloads::GatingMode parseGating(const std::string& text);

}  // namespace moeprof::cli
