#pragma once
// The safetensors format (Hugging Face's tensor container), torch-free: parsing and validating a
// file's header, memory-mapped reading, and writing. The ATen layer on top is
// workloads/checkpoints/safetensors_tensors.h; sharded checkpoints (an index JSON naming the file
// of each tensor) are workloads/checkpoints/safetensors_shards.h.
//
// Layout: an unsigned little-endian 64-bit header length N, N bytes of UTF-8 JSON (starting with
// '{', possibly padded with spaces), then the data. The JSON maps each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into the data) and may hold a
// "__metadata__" map of strings. The tensors must cover the data exactly: no gaps, no overlaps.
// Every violation is an InputError naming the file and, where there is one, the tensor.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moeprof::workloads {

// The element types moeprof reads and writes (the format knows more: those are rejected).
enum class SafetensorsDtype { F32, F16, BF16, I64, I32, U8, Bool };

const char* dtypeName(SafetensorsDtype dtype);  // as the format spells it: "F32", "BOOL", ...
int64_t dtypeBytes(SafetensorsDtype dtype);
std::optional<SafetensorsDtype> parseDtype(std::string_view name);

using SafetensorsMetadata = std::map<std::string, std::string>;

// Where one tensor lies in a file. Offsets count from the start of the data, as in the header.
struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::F32;
  std::vector<int64_t> shape;
  uint64_t dataBegin = 0;
  uint64_t dataEnd = 0;
  int64_t elementCount() const;
  uint64_t byteCount() const { return dataEnd - dataBegin; }
};

// A validated header: every tensor (sorted by name) lies inside the data, has as many bytes as
// its dtype and shape need, and together they cover the data exactly.
struct SafetensorsHeader {
  std::vector<SafetensorsTensor> tensors;
  SafetensorsMetadata metadata;
  uint64_t dataOffset = 0;  // where the data starts in the file: 8 + header length
  uint64_t dataBytes = 0;
  const SafetensorsTensor* find(std::string_view name) const;
};

// Parses and validates a whole file held in memory. `source` names it in error messages.
// Throws InputError for anything malformed; never reads outside `file`.
SafetensorsHeader parseSafetensors(std::span<const std::byte> file, const std::string& source);

// A read-only memory mapping of a whole file; shared by the views made of it.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);  // InputError when it cannot be opened
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();
  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// A safetensors file, mapped and validated: tensors by name and their bytes, without copying.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<SafetensorsTensor>& tensors() const { return header_.tensors; }
  const SafetensorsMetadata& metadata() const { return header_.metadata; }
  const SafetensorsTensor* find(std::string_view name) const { return header_.find(name); }
  // Throws InputError naming the tensor and the file when it is not there.
  const SafetensorsTensor& tensor(std::string_view name) const;
  // The tensor's bytes inside the mapping (valid while this file or mapping() lives).
  std::span<const std::byte> data(const SafetensorsTensor& tensor) const;
  const std::shared_ptr<const MappedFile>& mapping() const { return mapping_; }

 private:
  SafetensorsFile(std::filesystem::path path, std::shared_ptr<const MappedFile> mapping,
                  SafetensorsHeader header);
  std::filesystem::path path_;
  std::shared_ptr<const MappedFile> mapping_;
  SafetensorsHeader header_;
};

// One tensor to write: its bytes (little-endian, row-major) and what they are.
struct SafetensorsTensorBytes {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::F32;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;
};

// The header block of a file holding `tensors`: the length, the JSON, spaces up to a multiple of
// 8 bytes (so the data, and with it every tensor, is aligned). `order` receives the indices of
// the tensors in data order: widest dtype first, then by name, so each tensor is aligned to its
// element size. Throws std::invalid_argument on duplicate or reserved names and on byte counts
// that do not match dtype and shape.
std::string encodeSafetensorsHeader(std::span<const SafetensorsTensorBytes> tensors,
                                    const SafetensorsMetadata& metadata,
                                    std::vector<size_t>* order = nullptr);

// The whole file in memory (for tests and the fuzz target).
std::vector<std::byte> encodeSafetensors(std::span<const SafetensorsTensorBytes> tensors,
                                         const SafetensorsMetadata& metadata);

// Writes the file atomically (temporary file, fsync, rename): readers see the old file or the
// complete new one, never a partial one.
void writeSafetensors(const std::filesystem::path& path,
                      std::span<const SafetensorsTensorBytes> tensors,
                      const SafetensorsMetadata& metadata);

}  // namespace moeprof::workloads
