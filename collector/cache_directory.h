#pragma once
// Where moeprof keeps what its own commands generate and reuse between runs (the corpus, trained
// models, expert files): never inside a run directory or the repository.
#include <filesystem>

namespace moeprof::collector {

// $MOEPROF_CACHE_DIR, else $XDG_CACHE_HOME/moeprof, else ~/.cache/moeprof.
std::filesystem::path moeprofCacheDirectory();

}  // namespace moeprof::collector
