#pragma once
// Routing characterization of several runs side by side (`moeprof characterize`): for each run
// (and each synthetic Zipf twin) the routing statistics per stack, the Expert Buffering miss-rate
// curves and the placement Max Load / Avg Max Load of each stack, and the similarity of the
// runs' expert loads (LM domains, MT target languages).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "analysis/cache_simulation.h"
#include "analysis/device_cache_simulation.h"
#include "analysis/placement_simulation.h"
#include "analysis/routing_statistics.h"
#include "collector/routing_log.h"

namespace moeprof::analysis {

// What a run is, from its run.json (or, for a synthetic log, what it imitates).
struct RunLabel {
  std::string source;   // run directory, or "zipf" for a synthetic log
  std::string preset;   // config.preset (the routing log's model name when synthetic)
  std::string weights;  // "random", "checkpoint" or what run.json says; "" when not recorded
  std::string domain;   // config.text.domain, "" when none
  std::string lang;     // config.text.lang, "" when none
  std::string decode;   // config.decode when the MT decoder was teacher-forced ("reference")
  std::string status;   // "complete" / "incomplete" / "interrupted" ("" for synthetic)
  std::optional<double> zipfExponent;  // set for synthetic logs
  std::string text() const;            // "lm-tiny random domain=prose", "zipf s=1.2 (lm-tiny)"
};

// Reads run.json's labels; throws InputError when the run has no readable run.json.
RunLabel readRunLabel(const std::filesystem::path& runDir);

// What to replay on every run and stack.
struct CharacterizationOptions {
  std::vector<std::string> cachePolicies = {"lifo", "lru", "belady"};
  // Slot counts asked for; each stack simulates those in topK..experts.
  std::vector<uint32_t> slots = {1, 2, 4, 8, 16};
  std::vector<std::string> placements = {"roundrobin", "greedy"};
  // Device counts asked for; each run uses those that divide its experts.
  std::vector<int> devices = {2, 4, 8};
  // Per-GPU caches under each placement (the paper's setting): the policy, and the slots per
  // device and MoE layer asked for; each device count uses those from topK to below its experts
  // per device (with every expert resident, only cold misses are left, the same in every
  // placement). Placements with replicas (eplb) are left out. Empty policy: none.
  std::string deviceCachePolicy = "lifo";
  std::vector<uint32_t> deviceCacheSlots = {2, 4, 8};
  bool similarity = true;
};

// One stack of one run: what caches and placements do on its routing.
struct StackReplay {
  collector::LayerStack stack = collector::LayerStack::Lm;
  std::optional<CacheSimulation> caches;         // nullopt: no slot count fits this model
  std::optional<PlacementSimulation> placement;  // nullopt: fewer than 2 passes or no device count
  // Per-GPU caches on the judged half; nullopt where placement is, where the judged half has
  // one pass per layer (every access a first one), or where no slot count fits.
  std::optional<DeviceCacheSimulation> deviceCaches;
};

// One run (or synthetic log): its label, statistics and replays.
struct RunCharacterization {
  RunLabel label;
  RoutingStatistics statistics;
  std::vector<StackReplay> replays;  // one per stack of statistics.stacks, same order
};

// Similarity of expert loads between every pair of runs, per stack; entries in run order.
struct SimilarityMatrix {
  collector::LayerStack stack = collector::LayerStack::Lm;
  std::vector<std::vector<LoadSimilarity>> pairs;  // pairs[i][j]
};

// What `moeprof characterize` prints and writes: every run, then the similarity matrices.
struct Characterization {
  std::vector<RunCharacterization> runs;
  std::vector<SimilarityMatrix> similarity;  // empty when off or fewer than 2 runs
};

// Statistics and replays of one log. Throws InputError on a bad cache policy or placement name.
RunCharacterization characterizeLog(const collector::RoutingLog& log, RunLabel label,
                                    const CharacterizationOptions& options);

// Adds the similarity matrices when asked for and there are 2 runs or more. Throws InputError,
// naming the two runs, when runs of different models are compared.
void addSimilarity(Characterization& characterization, const CharacterizationOptions& options);

// The routing log of a run directory. Throws InputError when `run` is not a run directory
// (no run.json) or has no routing log (a dense model).
std::filesystem::path routingLogOfRun(const std::filesystem::path& run);

// What `moeprof characterize` computes: every run, then for each Zipf exponent one synthetic
// twin of the first run of each model (analysis/zipf_routing.h, seeded), then the similarity
// matrices. Every run is checked before any is analysed.
Characterization characterizeRuns(const std::vector<std::filesystem::path>& runs,
                                  const std::vector<double>& zipfExponents, uint64_t seed,
                                  const CharacterizationOptions& options);

// Everything as JSON (schema "moeprof-characterization" version 1), pretty-printed, ending in
// a newline. NaN (a figure that does not exist, e.g. temporal locality of a single pass) is null.
std::string characterizationJson(const Characterization& characterization);

}  // namespace moeprof::analysis
