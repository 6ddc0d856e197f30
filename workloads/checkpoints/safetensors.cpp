#include "workloads/checkpoints/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>
#include <stdexcept>
#include <tuple>

#include <nlohmann/json.hpp>

#include "collector/atomic_file.h"
#include "collector/errors.h"

namespace moeprof::workloads {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader copies bytes as they are");

namespace {

using nlohmann::json;

// The Rust reference implementation refuses headers above 100 MB; a larger one is an attack or
// a corrupt length, and parsing it would only exhaust memory.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

struct DtypeEntry {
  SafetensorsDtype dtype;
  const char* name;
  int64_t bytes;
};
constexpr std::array<DtypeEntry, 7> kDtypes{{{SafetensorsDtype::F32, "F32", 4},
                                             {SafetensorsDtype::F16, "F16", 2},
                                             {SafetensorsDtype::BF16, "BF16", 2},
                                             {SafetensorsDtype::I64, "I64", 8},
                                             {SafetensorsDtype::I32, "I32", 4},
                                             {SafetensorsDtype::U8, "U8", 1},
                                             {SafetensorsDtype::Bool, "BOOL", 1}}};
// Dtypes of the format that moeprof does not read: named as such rather than "unknown".
constexpr std::array<const char*, 10> kOtherFormatDtypes{
    "F64", "I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4"};

std::string supportedDtypes() {
  std::string list;
  for (const auto& entry : kDtypes) list += (list.empty() ? "" : ", ") + std::string(entry.name);
  return list;
}

// Names can be as long as the header; messages keep a readable prefix.
std::string quotedName(std::string_view name) {
  constexpr size_t kMaxShown = 120;
  if (name.size() <= kMaxShown) return "'" + std::string(name) + "'";
  return "'" + std::string(name.substr(0, kMaxShown)) + "...' (" + std::to_string(name.size()) +
         " bytes)";
}

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Reads the tensor entries of a parsed header; `fail` prefixes the file and tensor.
class HeaderReader {
 public:
  HeaderReader(const std::string& source, uint64_t dataBytes)
      : source_(source), dataBytes_(dataBytes) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw InputError(source_ + ": " + problem);
  }
  [[noreturn]] void failTensor(const std::string& name, const std::string& problem) const {
    fail("tensor " + quotedName(name) + ": " + problem);
  }

  SafetensorsMetadata metadata(const json& value) const {
    if (!value.is_object()) fail(std::string(kMetadataKey) + " is not an object of strings");
    SafetensorsMetadata metadata;
    for (const auto& [key, item] : value.items()) {
      if (!item.is_string())
        fail(std::string(kMetadataKey) + " value of " + quotedName(key) + " is not a string (" +
             item.type_name() + ")");
      metadata[key] = item.get<std::string>();
    }
    return metadata;
  }

  SafetensorsTensor tensor(const std::string& name, const json& entry) const {
    if (!entry.is_object()) failTensor(name, "entry is not an object");
    for (const auto& [key, item] : entry.items()) {
      if (key != "dtype" && key != "shape" && key != "data_offsets") {
        failTensor(name,
                   "unknown field " + quotedName(key) + " (allowed: dtype, shape, data_offsets)");
      }
    }
    SafetensorsTensor tensor;
    tensor.name = name;
    tensor.dtype = dtype(name, entry);
    tensor.shape = shape(name, entry);
    readOffsets(entry, tensor);
    return tensor;
  }

 private:
  SafetensorsDtype dtype(const std::string& name, const json& entry) const {
    auto it = entry.find("dtype");
    if (it == entry.end() || !it->is_string()) failTensor(name, "has no \"dtype\" string");
    const auto& text = it->get_ref<const std::string&>();
    if (auto parsed = parseDtype(text)) return *parsed;
    bool known = std::find(kOtherFormatDtypes.begin(), kOtherFormatDtypes.end(), text) !=
                 kOtherFormatDtypes.end();
    failTensor(name, (known ? "dtype " + quotedName(text) + " is not supported"
                            : "unknown dtype " + quotedName(text)) +
                         " (supported: " + supportedDtypes() + ")");
  }

  std::vector<int64_t> shape(const std::string& name, const json& entry) const {
    auto it = entry.find("shape");
    if (it == entry.end() || !it->is_array()) failTensor(name, "has no \"shape\" array");
    std::vector<int64_t> shape;
    for (const auto& dim : *it) {
      if (!dim.is_number_unsigned() ||
          dim.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        failTensor(name, "shape " + it->dump() + " is not a list of non-negative integers");
      }
      shape.push_back(dim.get<int64_t>());
    }
    return shape;
  }

  void readOffsets(const json& entry, SafetensorsTensor& tensor) const {
    const auto& name = tensor.name;
    auto it = entry.find("data_offsets");
    if (it == entry.end() || !it->is_array() || it->size() != 2 || !(*it)[0].is_number_unsigned() ||
        !(*it)[1].is_number_unsigned()) {
      failTensor(name, "\"data_offsets\" is not two non-negative integers [begin, end]");
    }
    tensor.dataBegin = (*it)[0].get<uint64_t>();
    tensor.dataEnd = (*it)[1].get<uint64_t>();
    std::string offsets = "data_offsets [" + std::to_string(tensor.dataBegin) + ", " +
                          std::to_string(tensor.dataEnd) + "]";
    if (tensor.dataEnd < tensor.dataBegin) failTensor(name, offsets + " end before they begin");
    if (tensor.dataEnd > dataBytes_) {
      failTensor(name, offsets + " run past the end of the data (" + std::to_string(dataBytes_) +
                           " bytes): the file is truncated or the offsets are wrong");
    }
    // Zero-sized dimensions aside, the shape must stay countable in int64 (ATen's strides are).
    int64_t span = dtypeBytes(tensor.dtype);
    for (int64_t dim : tensor.shape) {
      if (__builtin_mul_overflow(span, std::max<int64_t>(dim, 1), &span)) {
        failTensor(name, "shape " + shapeText(tensor.shape) + " overflows 64 bits");
      }
    }
    const uint64_t needed = static_cast<uint64_t>(tensor.elementCount() * dtypeBytes(tensor.dtype));
    if (needed != tensor.byteCount()) {
      failTensor(name, offsets + " hold " + std::to_string(tensor.byteCount()) + " bytes, but " +
                           dtypeName(tensor.dtype) + " " + shapeText(tensor.shape) + " needs " +
                           std::to_string(needed));
    }
  }

  const std::string& source_;
  uint64_t dataBytes_;
};

// The tensors must tile the data: sorted by offset, each begins where the previous one ended.
void checkCoverage(const std::vector<SafetensorsTensor>& tensors, uint64_t dataBytes,
                   const HeaderReader& reader) {
  std::vector<const SafetensorsTensor*> byOffset;
  for (const auto& tensor : tensors) byOffset.push_back(&tensor);
  std::sort(byOffset.begin(), byOffset.end(), [](const auto* a, const auto* b) {
    return std::tie(a->dataBegin, a->dataEnd) < std::tie(b->dataBegin, b->dataEnd);
  });
  uint64_t covered = 0;
  const SafetensorsTensor* previous = nullptr;
  for (const auto* tensor : byOffset) {
    if (tensor->dataBegin < covered) {
      reader.failTensor(tensor->name, "data [" + std::to_string(tensor->dataBegin) + ", " +
                                          std::to_string(tensor->dataEnd) + ") overlaps tensor " +
                                          quotedName(previous->name) + " (which ends at " +
                                          std::to_string(covered) + ")");
    }
    if (tensor->dataBegin > covered) {
      reader.fail("data bytes [" + std::to_string(covered) + ", " +
                  std::to_string(tensor->dataBegin) + ") before tensor " +
                  quotedName(tensor->name) + " belong to no tensor");
    }
    covered = tensor->dataEnd;
    previous = tensor;
  }
  if (covered != dataBytes) {
    reader.fail("data bytes [" + std::to_string(covered) + ", " + std::to_string(dataBytes) +
                ") at the end belong to no tensor" +
                (previous ? " (the last one, " + quotedName(previous->name) + ", ends earlier)"
                          : std::string(" (the header lists none)")));
  }
}

// Parses the JSON, noting a name given twice (the JSON library would keep only the last).
json parseHeaderJson(std::span<const std::byte> text, const std::string& source) {
  std::set<std::string> keys;
  std::string duplicate;
  json::parser_callback_t noteDuplicates = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && parsed.is_string() &&
        !keys.insert(parsed.get<std::string>()).second && duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  const auto* begin = reinterpret_cast<const char*>(text.data());
  json header;
  try {
    header = json::parse(begin, begin + text.size(), noteDuplicates);
  } catch (const json::exception& error) {
    throw InputError(source + ": the header is not valid JSON: " + error.what());
  }
  if (!duplicate.empty()) {
    throw InputError(source + ": tensor " + quotedName(duplicate) + " appears twice in the header");
  }
  return header;
}

uint64_t readHeaderLength(std::span<const std::byte> file, const std::string& source) {
  if (file.size() < 8) {
    throw InputError(source + ": " + std::to_string(file.size()) +
                     " bytes, too short for the 8-byte header length (not a safetensors file)");
  }
  uint64_t length = 0;
  std::memcpy(&length, file.data(), sizeof(length));
  if (length > kMaxHeaderBytes) {
    throw InputError(source + ": header length " + std::to_string(length) +
                     " is above the limit of " + std::to_string(kMaxHeaderBytes) + " bytes");
  }
  if (length > file.size() - 8) {
    throw InputError(source + ": header length " + std::to_string(length) +
                     " runs past the end of the file (" + std::to_string(file.size()) +
                     " bytes): the file is truncated or not a safetensors file");
  }
  if (length == 0 || static_cast<char>(file[8]) != '{') {
    throw InputError(source + ": the header does not start with '{' (not a safetensors file)");
  }
  return length;
}

}  // namespace

const char* dtypeName(SafetensorsDtype dtype) {
  for (const auto& entry : kDtypes) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "?";
}

int64_t dtypeBytes(SafetensorsDtype dtype) {
  for (const auto& entry : kDtypes) {
    if (entry.dtype == dtype) return entry.bytes;
  }
  return 0;
}

std::optional<SafetensorsDtype> parseDtype(std::string_view name) {
  for (const auto& entry : kDtypes) {
    if (name == entry.name) return entry.dtype;
  }
  return std::nullopt;
}

int64_t SafetensorsTensor::elementCount() const {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

const SafetensorsTensor* SafetensorsHeader::find(std::string_view name) const {
  auto it =
      std::lower_bound(tensors.begin(), tensors.end(), name,
                       [](const SafetensorsTensor& t, std::string_view n) { return t.name < n; });
  return it != tensors.end() && it->name == name ? &*it : nullptr;
}

SafetensorsHeader parseSafetensors(std::span<const std::byte> file, const std::string& source) {
  const uint64_t headerLength = readHeaderLength(file, source);
  SafetensorsHeader header;
  header.dataOffset = 8 + headerLength;
  header.dataBytes = file.size() - header.dataOffset;
  json parsed = parseHeaderJson(file.subspan(8, headerLength), source);
  HeaderReader reader(source, header.dataBytes);
  if (!parsed.is_object()) reader.fail("the header is not a JSON object");
  for (const auto& [name, entry] : parsed.items()) {
    if (name == kMetadataKey) {
      header.metadata = reader.metadata(entry);
    } else {
      header.tensors.push_back(reader.tensor(name, entry));
    }
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  checkCoverage(header.tensors, header.dataBytes, reader);
  return header;
}

MappedFile::MappedFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError("cannot open " + path.string() + ": " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    throw InputError(path.string() + " is not a regular file");
  }
  size_ = static_cast<size_t>(info.st_size);
  if (size_ > 0) {
    void* address = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (address == MAP_FAILED) {
      std::string message = "cannot map " + path.string() + ": " + std::strerror(errno);
      ::close(fd);
      throw std::runtime_error(message);
    }
    data_ = static_cast<const std::byte*>(address);
  }
  ::close(fd);  // the mapping keeps the file
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

SafetensorsFile::SafetensorsFile(std::filesystem::path path,
                                 std::shared_ptr<const MappedFile> mapping,
                                 SafetensorsHeader header)
    : path_(std::move(path)), mapping_(std::move(mapping)), header_(std::move(header)) {}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  auto mapping = std::make_shared<const MappedFile>(path);
  auto header = parseSafetensors(mapping->bytes(), path.string());
  return SafetensorsFile(path, std::move(mapping), std::move(header));
}

const SafetensorsTensor& SafetensorsFile::tensor(std::string_view name) const {
  if (const auto* found = find(name)) return *found;
  throw InputError(path_.string() + ": has no tensor " + quotedName(name));
}

std::span<const std::byte> SafetensorsFile::data(const SafetensorsTensor& tensor) const {
  return mapping_->bytes().subspan(header_.dataOffset + tensor.dataBegin, tensor.byteCount());
}

std::string encodeSafetensorsHeader(std::span<const SafetensorsTensorBytes> tensors,
                                    const SafetensorsMetadata& metadata,
                                    std::vector<size_t>* order) {
  std::vector<size_t> indices(tensors.size());
  std::iota(indices.begin(), indices.end(), size_t{0});
  std::sort(indices.begin(), indices.end(), [&](size_t a, size_t b) {
    auto wa = dtypeBytes(tensors[a].dtype), wb = dtypeBytes(tensors[b].dtype);
    return wa != wb ? wa > wb : tensors[a].name < tensors[b].name;
  });
  json header = json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (size_t i : indices) {
    const auto& tensor = tensors[i];
    int64_t elements =
        std::accumulate(tensor.shape.begin(), tensor.shape.end(), int64_t{1}, std::multiplies<>());
    if (tensor.name == kMetadataKey || header.contains(tensor.name)) {
      throw std::invalid_argument("safetensors: tensor name " + quotedName(tensor.name) +
                                  " is reserved or given twice");
    }
    if (static_cast<uint64_t>(elements * dtypeBytes(tensor.dtype)) != tensor.bytes.size()) {
      throw std::invalid_argument("safetensors: tensor " + quotedName(tensor.name) + " has " +
                                  std::to_string(tensor.bytes.size()) + " bytes, " +
                                  dtypeName(tensor.dtype) + " " + shapeText(tensor.shape) +
                                  " needs " + std::to_string(elements * dtypeBytes(tensor.dtype)));
    }
    header[tensor.name] = {{"dtype", dtypeName(tensor.dtype)},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& error) {
    throw std::invalid_argument(std::string("safetensors: cannot encode the header: ") +
                                error.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t length = text.size();
  std::string block(sizeof(length), '\0');
  std::memcpy(block.data(), &length, sizeof(length));
  if (order) *order = std::move(indices);
  return block + text;
}

std::vector<std::byte> encodeSafetensors(std::span<const SafetensorsTensorBytes> tensors,
                                         const SafetensorsMetadata& metadata) {
  std::vector<size_t> order;
  std::string header = encodeSafetensorsHeader(tensors, metadata, &order);
  std::vector<std::byte> file(reinterpret_cast<const std::byte*>(header.data()),
                              reinterpret_cast<const std::byte*>(header.data()) + header.size());
  for (size_t i : order) file.insert(file.end(), tensors[i].bytes.begin(), tensors[i].bytes.end());
  return file;
}

void writeSafetensors(const std::filesystem::path& path,
                      std::span<const SafetensorsTensorBytes> tensors,
                      const SafetensorsMetadata& metadata) {
  std::vector<size_t> order;
  std::string header = encodeSafetensorsHeader(tensors, metadata, &order);
  std::vector<std::span<const std::byte>> pieces;
  pieces.emplace_back(reinterpret_cast<const std::byte*>(header.data()), header.size());
  for (size_t i : order) pieces.push_back(tensors[i].bytes);
  collector::writeFileAtomically(path, pieces);
}

}  // namespace moeprof::workloads
