#include "workloads/parallel/rank_environment.h"

#include <charconv>
#include <cstdlib>

#include "collector/errors.h"

namespace moeprof::workloads {

namespace {

std::optional<int64_t> parseInteger(const std::string& value, int64_t low, int64_t high) {
  int64_t number = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (value.empty() || error != std::errc() || end != value.data() + value.size() || number < low ||
      number > high) {
    return std::nullopt;
  }
  return number;
}

int64_t parseVariable(const char* name, const char* text, int64_t low, int64_t high) {
  std::string value(text);
  auto number = parseInteger(value, low, high);
  if (!number) {
    throw InputError(std::string("environment variable ") + name + "='" + value +
                     "' is not allowed: expected an integer in " + std::to_string(low) + ".." +
                     std::to_string(high));
  }
  return *number;
}

struct RankVariables {
  const char* rank;
  const char* world;
};
constexpr RankVariables kLaunchers[] = {
    {"RANK", "WORLD_SIZE"},
    {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
    {"SLURM_PROCID", "SLURM_NTASKS"},
};
constexpr int64_t kMaxWorld = 1 << 16;

}  // namespace

EnvironmentLookup processEnvironment() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

std::optional<Rendezvous> rendezvousFromEnvironment(const EnvironmentLookup& lookup) {
  for (const auto& launcher : kLaunchers) {
    const char* rankText = lookup(launcher.rank);
    if (!rankText) continue;
    const char* worldText = lookup(launcher.world);
    if (!worldText) {
      throw InputError(std::string("environment variable ") + launcher.rank + " is set but " +
                       launcher.world + " is not: both are needed to join a multi-rank run");
    }
    Rendezvous r;
    r.worldSize = static_cast<int>(parseVariable(launcher.world, worldText, 1, kMaxWorld));
    r.rank = static_cast<int>(parseVariable(launcher.rank, rankText, 0, r.worldSize - 1));
    if (const char* addr = lookup("MASTER_ADDR"); addr && *addr) r.masterAddr = addr;
    if (const char* port = lookup("MASTER_PORT")) {
      r.masterPort = static_cast<uint16_t>(parseVariable("MASTER_PORT", port, 1, 65535));
    }
    if (const char* file = lookup(kRendezvousFileVariable); file && *file) r.storeFile = file;
    return r;
  }
  return std::nullopt;
}

int localWorldSize(const EnvironmentLookup& lookup) {
  for (const char* name :
       {"LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"}) {
    // Slurm may write forms like "2(x3)"; what is not a plain count is not used.
    const char* text = lookup(name);
    if (auto count = text ? parseInteger(text, 1, kMaxWorld) : std::nullopt) {
      return static_cast<int>(*count);
    }
  }
  return 1;
}

}  // namespace moeprof::workloads
