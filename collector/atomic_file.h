#pragma once
// Writing a file so that readers see either the old or the complete new contents, never a
// partial one, even after a crash: write a temporary beside it, fsync, rename over the target.
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace moeprof::collector {

// Throws std::runtime_error naming the path and the system error; the target is then untouched.
void writeFileAtomically(const std::filesystem::path& target, const std::string& text);

// The same for contents given in pieces, written in order: large files (checkpoints) need not be
// copied into one buffer first.
void writeFileAtomically(const std::filesystem::path& target,
                         std::span<const std::span<const std::byte>> pieces);

}  // namespace moeprof::collector
