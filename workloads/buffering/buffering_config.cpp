#include "workloads/buffering/buffering_config.h"

#include "collector/errors.h"

namespace moeprof::workloads {

PrefetchMode parsePrefetchMode(const std::string& text) {
  if (text == "off") return PrefetchMode::Off;
  if (text == "all") return PrefetchMode::All;
  if (text == "pregate") return PrefetchMode::Pregate;
  if (text == "oracle") return PrefetchMode::Oracle;
  throw InputError("--prefetch '" + text + "' is not one of: off, pregate, oracle, all");
}

const char* prefetchModeName(PrefetchMode mode) {
  switch (mode) {
    case PrefetchMode::Off:
      return "off";
    case PrefetchMode::All:
      return "all";
    case PrefetchMode::Pregate:
      return "pregate";
    case PrefetchMode::Oracle:
      return "oracle";
  }
  return "off";
}

}  // namespace moeprof::workloads
