#pragma once
// Writing a file so that readers see either the old or the complete new contents, never a
// partial one, even after a crash: write a temporary beside it, fsync, rename over the target.
#include <filesystem>
#include <string>

namespace moeprof::collector {

// Throws std::runtime_error naming the path and the system error; the target is then untouched.
void writeFileAtomically(const std::filesystem::path& target, const std::string& text);

}  // namespace moeprof::collector
