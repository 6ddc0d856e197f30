#include "collector/cache_directory.h"

#include <cstdlib>

namespace moeprof::collector {

std::filesystem::path moeprofCacheDirectory() {
  if (const char* dir = std::getenv("MOEPROF_CACHE_DIR"); dir && *dir) return dir;
  if (const char* dir = std::getenv("XDG_CACHE_HOME"); dir && *dir) {
    return std::filesystem::path(dir) / "moeprof";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/tmp") / ".cache" / "moeprof";
}

}  // namespace moeprof::collector
