#include "workloads/checkpoints/safetensors_shards.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "collector/atomic_file.h"
#include "collector/errors.h"

namespace moeprof::workloads {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

}  // namespace

json readJsonFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot open " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::exception& error) {
    throw InputError(path.string() + ": not valid JSON: " + error.what());
  }
}

namespace {

// Shard names come from the file: they must stay inside the checkpoint's directory.
void checkShardName(const std::string& shard, const std::string& tensor, const fs::path& index) {
  if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
    throw InputError(index.string() + ": weight_map gives tensor '" + tensor + "' the file '" +
                     shard + "', which is not a plain file name in the index's directory");
  }
}

SafetensorsMetadata metadataOf(const json& index, const fs::path& path) {
  SafetensorsMetadata metadata;
  auto it = index.find("metadata");
  if (it == index.end() || it->is_null()) return metadata;
  if (!it->is_object()) throw InputError(path.string() + ": \"metadata\" is not an object");
  for (const auto& [key, value] : it->items()) {
    metadata[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return metadata;
}

// Resolves what `open` was given to a single file or an index; a directory holding both is
// ambiguous (a half-replaced checkpoint) and refused.
fs::path entryPoint(const fs::path& path) {
  if (!fs::is_directory(path)) {
    if (!fs::exists(path)) throw InputError(path.string() + " does not exist");
    return path;
  }
  bool single = fs::exists(path / kSafetensorsFileName);
  bool index = fs::exists(path / kSafetensorsIndexName);
  if (single && index) {
    throw InputError(path.string() + " holds both " + kSafetensorsFileName + " and " +
                     kSafetensorsIndexName + ": remove the one that is stale");
  }
  if (!single && !index) {
    throw InputError(path.string() + " holds neither " + kSafetensorsFileName + " nor " +
                     kSafetensorsIndexName);
  }
  return path / (single ? kSafetensorsFileName : kSafetensorsIndexName);
}

bool isIndex(const fs::path& path) {
  return path.extension() == ".json";
}

std::string shardName(size_t shard, size_t count) {
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", shard + 1, count);
  return name;
}

// Consecutive runs of tensors of at most maxBytes each (a larger tensor gets a shard alone).
std::vector<std::vector<size_t>> splitIntoShards(std::span<const SafetensorsTensorBytes> tensors,
                                                 uint64_t maxBytes) {
  std::vector<std::vector<size_t>> shards;
  uint64_t bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t size = tensors[i].bytes.size();
    if (shards.empty() || (bytes + size > maxBytes && bytes > 0)) {
      shards.emplace_back();
      bytes = 0;
    }
    shards.back().push_back(i);
    bytes += size;
  }
  if (shards.empty()) shards.emplace_back();
  return shards;
}

}  // namespace

SafetensorsShards SafetensorsShards::open(const fs::path& path) {
  SafetensorsShards shards;
  shards.source_ = entryPoint(path);
  if (!isIndex(shards.source_)) {
    shards.addFile(SafetensorsFile::open(shards.source_));
    return shards;
  }
  const fs::path& indexPath = shards.source_;
  json index = readJsonFile(indexPath);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw InputError(indexPath.string() + ": has no \"weight_map\" object");
  }
  shards.indexMetadata_ = metadataOf(index, indexPath);
  std::map<std::string, std::string> shardOf;  // tensor -> shard, as the index says
  std::map<std::string, size_t> fileIndex;     // shard -> position in files_
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) {
      throw InputError(indexPath.string() + ": weight_map entry of tensor '" + tensor +
                       "' is not a file name");
    }
    const auto& name = shard.get_ref<const std::string&>();
    checkShardName(name, tensor, indexPath);
    shardOf[tensor] = name;
    if (fileIndex.emplace(name, shards.files_.size()).second) {
      shards.files_.push_back(SafetensorsFile::open(indexPath.parent_path() / name));
    }
  }
  for (const auto& file : shards.files_) {
    for (const auto& tensor : file.tensors()) {
      auto listed = shardOf.find(tensor.name);
      std::string shard = file.path().filename().string();
      if (listed == shardOf.end() || listed->second != shard) {
        throw InputError(
            indexPath.string() + ": tensor '" + tensor.name + "' is in shard " + shard +
            " but the weight_map " +
            (listed == shardOf.end() ? "does not list it" : "puts it in " + listed->second));
      }
      shards.tensors_[tensor.name] = {&file, &tensor};
    }
  }
  for (const auto& [tensor, shard] : shardOf) {
    if (!shards.tensors_.count(tensor)) {
      throw InputError(indexPath.string() + ": the weight_map puts tensor '" + tensor +
                       "' in shard " + shard + ", which does not hold it");
    }
  }
  return shards;
}

void SafetensorsShards::addFile(SafetensorsFile file) {
  files_.push_back(std::move(file));
  for (const auto& tensor : files_.back().tensors()) {
    tensors_[tensor.name] = {&files_.back(), &tensor};
  }
}

const SafetensorsShards::Entry* SafetensorsShards::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const SafetensorsShards::Entry& SafetensorsShards::at(std::string_view name) const {
  if (const auto* entry = find(name)) return *entry;
  throw InputError(source_.string() + ": has no tensor '" + std::string(name) + "'");
}

uint64_t SafetensorsShards::totalBytes() const {
  uint64_t bytes = 0;
  for (const auto& [name, entry] : tensors_) bytes += entry.tensor->byteCount();
  return bytes;
}

std::vector<fs::path> writeSafetensorsShards(const fs::path& dir,
                                             std::span<const SafetensorsTensorBytes> tensors,
                                             const SafetensorsMetadata& metadata,
                                             const ShardingOptions& options) {
  fs::create_directories(dir);
  auto shards = splitIntoShards(tensors, options.maxShardBytes);
  std::vector<fs::path> written;
  if (shards.size() == 1) {
    written.push_back(dir / kSafetensorsFileName);
    writeSafetensors(written.back(), tensors, metadata);
    fs::remove(dir / kSafetensorsIndexName);
    return written;
  }
  json weightMap = json::object();
  uint64_t totalBytes = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    std::vector<SafetensorsTensorBytes> shard;
    for (size_t i : shards[s]) {
      shard.push_back(tensors[i]);
      weightMap[tensors[i].name] = shardName(s, shards.size());
      totalBytes += tensors[i].bytes.size();
    }
    written.push_back(dir / shardName(s, shards.size()));
    writeSafetensors(written.back(), shard, metadata);
  }
  json index = {{"metadata", {{"total_size", totalBytes}}}, {"weight_map", weightMap}};
  written.push_back(dir / kSafetensorsIndexName);
  collector::writeFileAtomically(written.back(), index.dump(2) + "\n");
  fs::remove(dir / kSafetensorsFileName);
  return written;
}

}  // namespace moeprof::workloads
