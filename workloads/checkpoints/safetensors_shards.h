#pragma once
// Checkpoints of several safetensors files, as Hugging Face writes them: shards named
// `model-00001-of-00003.safetensors` and `model.safetensors.index.json`, whose "weight_map"
// names the shard of each tensor (and whose "metadata" holds "total_size", the tensor bytes).
// A checkpoint small enough for one shard is the single file `model.safetensors`. Torch-free.
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "workloads/checkpoints/safetensors.h"

namespace moeprof::workloads {

inline constexpr const char* kSafetensorsFileName = "model.safetensors";
inline constexpr const char* kSafetensorsIndexName = "model.safetensors.index.json";

// A single safetensors file or the shards of an index, read as one set of named tensors. The
// index and the shards must agree exactly: every tensor the index names is in its shard, every
// tensor of a shard is named by the index for that shard; else an InputError names the tensor
// and the files.
class SafetensorsShards {
 public:
  // `path`: a .safetensors file, an index JSON, or a directory holding one of the two.
  static SafetensorsShards open(const std::filesystem::path& path);

  SafetensorsShards(SafetensorsShards&&) = default;
  SafetensorsShards& operator=(SafetensorsShards&&) = default;
  SafetensorsShards(const SafetensorsShards&) = delete;
  SafetensorsShards& operator=(const SafetensorsShards&) = delete;

  struct Entry {
    const SafetensorsFile* file;
    const SafetensorsTensor* tensor;
  };
  const std::map<std::string, Entry, std::less<>>& tensors() const { return tensors_; }
  const Entry* find(std::string_view name) const;
  // Throws InputError naming the tensor and where it was looked for.
  const Entry& at(std::string_view name) const;
  const std::vector<SafetensorsFile>& files() const { return files_; }
  // The index's "metadata" (non-string values as JSON text); empty for a single file.
  const SafetensorsMetadata& indexMetadata() const { return indexMetadata_; }
  // The index, or the single file: what error messages name.
  const std::filesystem::path& source() const { return source_; }
  uint64_t totalBytes() const;

 private:
  SafetensorsShards() = default;
  void addFile(SafetensorsFile file);
  std::filesystem::path source_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, Entry, std::less<>> tensors_;
  SafetensorsMetadata indexMetadata_;
};

struct ShardingOptions {
  uint64_t maxShardBytes = 5'000'000'000;  // Hugging Face's default, "5GB"
};

// Writes `tensors` into `dir` (created when missing): `model.safetensors` when they fit one
// shard, else shards in the given order plus the index, each file atomically and the index
// last. The other layout's entry point is removed, so the directory never holds both. Every
// shard carries `metadata`. Returns the files written.
std::vector<std::filesystem::path> writeSafetensorsShards(
    const std::filesystem::path& dir, std::span<const SafetensorsTensorBytes> tensors,
    const SafetensorsMetadata& metadata, const ShardingOptions& options = {});

// A JSON file's contents (an index, a checkpoint config). Throws InputError naming the file
// when it cannot be opened or is not valid JSON.
nlohmann::json readJsonFile(const std::filesystem::path& path);

}  // namespace moeprof::workloads
