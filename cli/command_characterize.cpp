// `moeprof characterize RUN...`: routing statistics of recorded runs (and of synthetic Zipf
// routing shaped like them) beside the paper's figures, with cache and placement replay.
#include <charconv>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "analysis/characterization.h"
#include "analysis/expert_cache.h"
#include "cli/app.h"
#include "cli/list_flags.h"
#include "cli/run_flags.h"
#include "collector/atomic_file.h"
#include "collector/errors.h"
#include "reports/characterization_report.h"

namespace moeprof::cli {

namespace {

std::vector<double> parseExponents(const std::string& text) {
  std::vector<double> exponents;
  if (text.empty()) return exponents;
  for (const std::string& item : splitList(text)) {
    double value = 0;
    auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || error != std::errc() || end != item.data() + item.size() ||
        !std::isfinite(value) || value <= 0) {
      throw InputError("--zipf '" + text + "': '" + item +
                       "' is not a Zipf exponent (allowed: numbers > 0, e.g. 0.8 or 1,1.5)");
    }
    exponents.push_back(value);
  }
  return exponents;
}

struct CharacterizeCommand {
  std::vector<std::string> runs;
  std::string jsonPath;
  std::string zipf;
  uint64_t seed = 1;
  std::string slots = "1..16";
  std::string devices = "2,4,8";
  std::string policies = "lifo,lru,belady";
  std::string placements = "roundrobin,greedy";
  std::string devicePolicy = "lifo";
  std::string deviceSlots = "2,4,8";
  bool noSimilarity = false;

  int execute() const {
    analysis::CharacterizationOptions options;
    options.slots = parseSlotCounts(slots).counts;
    options.devices = parseDeviceCounts(devices);
    options.cachePolicies = splitList(policies);
    options.placements = splitList(placements);
    options.similarity = !noSimilarity;
    options.deviceCachePolicy = devicePolicy == "off" ? "" : devicePolicy;
    options.deviceCacheSlots = deviceSlotCounts();
    if (!options.deviceCachePolicy.empty()) analysis::makePolicy(options.deviceCachePolicy);
    for (const std::string& name : options.cachePolicies) analysis::makePolicy(name);
    for (const std::string& name : options.placements) analysis::parsePlacementSpec(name);
    const auto characterization =
        analysis::characterizeRuns(std::vector<std::filesystem::path>(runs.begin(), runs.end()),
                                   parseExponents(zipf), seed, options);
    if (!jsonPath.empty()) {
      collector::writeFileAtomically(jsonPath, analysis::characterizationJson(characterization));
    }
    std::cout << reports::characterizationText(characterization);
    return kExitOk;
  }

  // parseSlotCounts names --slots in its errors: here the option is --device-slots.
  std::vector<uint32_t> deviceSlotCounts() const {
    try {
      return parseSlotCounts(deviceSlots).counts;
    } catch (const InputError& error) {
      throw InputError(std::string("--device-") + (error.what() + 2));
    }
  }
};

}  // namespace

Action addCharacterizeCommand(CLI::App& app) {
  auto command = std::make_shared<CharacterizeCommand>();
  app.add_option("RUN", command->runs, "run directories holding run.json and routing.bin")
      ->required();
  app.add_option("--json", command->jsonPath, "also write every figure as JSON (atomically)");
  app.add_option("--zipf", command->zipf,
                 "add synthetic Zipf routing, one log per exponent s > 0 (comma list) shaped like "
                 "the first run of each model: per layer Zipf(s) over a seeded random permutation "
                 "of the experts, top-k distinct experts per token");
  app.add_option("--seed", command->seed, "seed of the synthetic Zipf routing")
      ->check(seedValidator())
      ->capture_default_str();
  app.add_option("--slots", command->slots,
                 "expert slots per MoE layer for the Expert Buffering miss-rate curves: a range "
                 "A..B or a comma list; counts outside topK..experts are skipped per stack")
      ->capture_default_str();
  app.add_option("--devices", command->devices,
                 "device counts for placement Max Load / Avg Max Load (comma list); counts that "
                 "do not divide a model's experts are skipped")
      ->capture_default_str();
  app.add_option("--cache", command->policies,
                 "eviction policies to replay: lifo (the paper's), lru, lfu, fifo, belady")
      ->capture_default_str();
  app.add_option("--placement", command->placements,
                 "placements to replay: roundrobin, greedy, anticorr, eplb[:N]")
      ->capture_default_str();
  app.add_option("--device-cache", command->devicePolicy,
                 "per-GPU Expert Buffering under each placement (the paper's setting): the "
                 "eviction policy, or off")
      ->capture_default_str();
  app.add_option("--device-slots", command->deviceSlots,
                 "slots per GPU and MoE layer for --device-cache: a range A..B or a comma list; "
                 "counts outside topK..(experts per GPU - 1) are skipped per device count")
      ->capture_default_str();
  app.add_flag("--no-similarity", command->noSimilarity,
               "skip the expert load similarity matrix (needed to characterize runs of "
               "different models together)");
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
