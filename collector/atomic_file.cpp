#include "collector/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace moeprof::collector {

namespace {

std::string systemError(const std::string& action, const std::filesystem::path& path) {
  return "cannot " + action + " " + path.string() + ": " + std::strerror(errno);
}

// Writes all of one piece; false (errno set) on failure.
bool writeAll(int fd, std::span<const std::byte> piece) {
  size_t written = 0;
  while (written < piece.size()) {
    ssize_t n = ::write(fd, piece.data() + written, piece.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    written += static_cast<size_t>(n);
  }
  return true;
}

// Writes all pieces to a new file and fsyncs it, so that the rename that follows publishes
// complete contents even after a crash. Removes the file again on failure.
void writeFileDurably(const std::filesystem::path& path,
                      std::span<const std::span<const std::byte>> pieces) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(systemError("create", path));
  for (auto piece : pieces) {
    if (!writeAll(fd, piece)) {
      std::string message = systemError("write", path);
      ::close(fd);
      ::unlink(path.c_str());
      throw std::runtime_error(message);
    }
  }
  bool synced = ::fsync(fd) == 0;
  std::string message = synced ? std::string() : systemError("sync", path);
  if (::close(fd) != 0 && synced) {
    synced = false;
    message = systemError("close", path);
  }
  if (!synced) {
    ::unlink(path.c_str());
    throw std::runtime_error(message);
  }
}

// Makes the rename itself durable. Best effort: some file systems refuse fsync on directories,
// and the manifest is already complete on disk either way.
void syncDirectory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void writeFileAtomically(const std::filesystem::path& target, const std::string& text) {
  const std::span<const std::byte> piece(reinterpret_cast<const std::byte*>(text.data()),
                                         text.size());
  writeFileAtomically(target, std::span<const std::span<const std::byte>>(&piece, 1));
}

void writeFileAtomically(const std::filesystem::path& target,
                         std::span<const std::span<const std::byte>> pieces) {
  std::filesystem::path temporary = target.string() + ".tmp";
  writeFileDurably(temporary, pieces);
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    std::string message = systemError("rename " + temporary.string() + " to", target);
    ::unlink(temporary.c_str());
    throw std::runtime_error(message);
  }
  syncDirectory(target.has_parent_path() ? target.parent_path() : ".");
}

}  // namespace moeprof::collector
