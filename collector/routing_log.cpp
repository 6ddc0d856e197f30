#include "collector/routing_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include "collector/errors.h"

namespace moeprof::collector {

namespace {

// A record claiming more tokens than this is corrupt, not a big batch: it guards the reader
// against allocating gigabytes because of a flipped bit.
constexpr uint32_t kMaxTokensPerRecord = 1u << 28;
constexpr uint32_t kMaxModelNameBytes = 4096;
constexpr uint64_t kPrefixBytes = 16;       // magic, version, header byte length
constexpr uint64_t kRecordFixedBytes = 16;  // batch, moeLayer, step, numTokens
// Records are written once this many bytes of them are buffered (and on flush): few writes, and
// little lost when the process is killed.
constexpr size_t kWriteBufferBytes = 64 * 1024;

// Little-endian encoding by shifts, so that the format does not depend on the host byte order.
class ByteWriter {
 public:
  void u8(uint8_t value) { bytes_.push_back(static_cast<char>(value)); }
  void u16(uint16_t value) {
    u8(static_cast<uint8_t>(value));
    u8(static_cast<uint8_t>(value >> 8));
  }
  void u32(uint32_t value) {
    u16(static_cast<uint16_t>(value));
    u16(static_cast<uint16_t>(value >> 16));
  }
  void raw(const char* data, size_t size) { bytes_.append(data, size); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Bounds-checked little-endian decoding of a buffer read from the file; `baseOffset` is where
// the buffer starts in the file, so that errors point at the right byte.
class ByteReader {
 public:
  ByteReader(const std::string& bytes, uint64_t baseOffset, const std::filesystem::path& path)
      : bytes_(bytes), baseOffset_(baseOffset), path_(path) {}

  uint8_t u8(const char* what) {
    need(1, what);
    return static_cast<uint8_t>(bytes_[pos_++]);
  }
  uint16_t u16(const char* what) {
    need(2, what);
    uint16_t low = static_cast<uint8_t>(bytes_[pos_]);
    uint16_t high = static_cast<uint8_t>(bytes_[pos_ + 1]);
    pos_ += 2;
    return static_cast<uint16_t>(low | (high << 8));
  }
  uint32_t u32(const char* what) {
    uint32_t low = u16(what);
    uint32_t high = u16(what);
    return low | (high << 16);
  }
  std::string string(uint32_t size, const char* what) {
    need(size, what);
    std::string result = bytes_.substr(pos_, size);
    pos_ += size;
    return result;
  }
  uint64_t offset() const { return baseOffset_ + pos_; }

 private:
  void need(uint64_t size, const char* what) const {
    if (pos_ + size > bytes_.size()) {
      throw InputError("routing log " + path_.string() + ": truncated at byte offset " +
                       std::to_string(offset()) + " while reading " + what);
    }
  }

  const std::string& bytes_;
  uint64_t baseOffset_;
  const std::filesystem::path& path_;
  size_t pos_ = 0;
};

std::string describe(const std::filesystem::path& path) {
  return "routing log " + path.string();
}

std::string encodeHeader(const RoutingLogHeader& header) {
  ByteWriter writer;
  writer.u32(static_cast<uint32_t>(header.model.size()));
  writer.raw(header.model.data(), header.model.size());
  writer.u32(header.numExperts);
  writer.u32(header.topK);
  writer.u32(static_cast<uint32_t>(header.layers.size()));
  for (const MoeLayerInfo& layer : header.layers) {
    writer.u8(static_cast<uint8_t>(layer.stack));
    writer.u32(layer.blockIndex);
  }
  return writer.bytes();
}

// Shared by writer and reader: a header the reader would reject must never be written.
void validateHeader(const RoutingLogHeader& header, const std::string& where) {
  if (header.numExperts == 0 || header.numExperts > kMaxExperts) {
    throw InputError(where + ": numExperts " + std::to_string(header.numExperts) +
                     " is out of range (allowed 1.." + std::to_string(kMaxExperts) + ")");
  }
  if (header.topK == 0 || header.topK > header.numExperts) {
    throw InputError(
        where + ": topK " + std::to_string(header.topK) +
        " is out of range (allowed 1..numExperts = " + std::to_string(header.numExperts) + ")");
  }
  if (header.model.size() > kMaxModelNameBytes) {
    throw InputError(where + ": model name of " + std::to_string(header.model.size()) +
                     " bytes is too long (at most " + std::to_string(kMaxModelNameBytes) + ")");
  }
}

// Checks what writer and reader both require of a record once its sizes are known.
void validateRecordContents(const RoutingLogHeader& header, const RoutingRecord& record,
                            const std::string& where) {
  if (record.moeLayer >= header.layers.size()) {
    throw InputError(where + ": moeLayer " + std::to_string(record.moeLayer) +
                     " is out of range (the log has " + std::to_string(header.layers.size()) +
                     " MoE layers)");
  }
  for (uint16_t expert : record.experts) {
    uint16_t id = expert & static_cast<uint16_t>(~kDroppedFlag);
    if (id >= header.numExperts) {
      throw InputError(where + ": expert id " + std::to_string(id) + " in moeLayer " +
                       std::to_string(record.moeLayer) + " is out of range (allowed 0.." +
                       std::to_string(header.numExperts - 1) + ")");
    }
  }
}

}  // namespace

const char* layerStackName(LayerStack stack) {
  switch (stack) {
    case LayerStack::Lm:
      return "lm";
    case LayerStack::Encoder:
      return "encoder";
    case LayerStack::Decoder:
      return "decoder";
  }
  return "unknown";
}

LayerStack parseLayerStack(const std::string& name) {
  for (LayerStack stack : {LayerStack::Lm, LayerStack::Encoder, LayerStack::Decoder}) {
    if (name == layerStackName(stack)) return stack;
  }
  throw InputError("stack '" + name + "' is not one of: lm, encoder, decoder");
}

RoutingLog onlyStack(const RoutingLog& log, LayerStack stack) {
  RoutingLog part;
  part.header = log.header;
  part.header.layers.clear();
  std::vector<int64_t> renumbered(log.header.layers.size(), -1);
  for (size_t l = 0; l < log.header.layers.size(); ++l) {
    if (log.header.layers[l].stack != stack) continue;
    renumbered[l] = static_cast<int64_t>(part.header.layers.size());
    part.header.layers.push_back(log.header.layers[l]);
  }
  if (part.header.layers.empty()) {
    throw InputError("the routing log of " + log.header.model + " has no " + layerStackName(stack) +
                     " MoE layers");
  }
  for (const RoutingRecord& record : log.records) {
    if (record.moeLayer < renumbered.size() && renumbered[record.moeLayer] >= 0) {
      part.records.push_back(record);
      part.records.back().moeLayer = static_cast<uint32_t>(renumbered[record.moeLayer]);
    }
  }
  return part;
}

RoutingLog onlyPasses(const RoutingLog& log, const std::set<RoutingPass>& passes) {
  RoutingLog part;
  part.header = log.header;
  for (const RoutingRecord& record : log.records) {
    if (passes.count({record.batch, record.step})) part.records.push_back(record);
  }
  return part;
}

uint16_t floatToBfloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
    // Rounding could carry a NaN's payload into infinity; keep it a quiet NaN instead.
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  }
  uint32_t roundingBias = 0x7FFFu + ((bits >> 16) & 1u);  // ties go to the even result
  return static_cast<uint16_t>((bits + roundingBias) >> 16);
}

float bfloat16ToFloat(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Writer

RoutingLogWriter::RoutingLogWriter(const std::filesystem::path& path,
                                   const RoutingLogHeader& header)
    : header_(header), path_(path) {
  validateHeader(header_, describe(path_));
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open " + describe(path_) +
                             " for writing: " + std::strerror(errno));
  }
  std::string headerBytes = encodeHeader(header_);
  ByteWriter prefix;
  prefix.raw(kRoutingLogMagic, sizeof kRoutingLogMagic);
  prefix.u32(kRoutingLogVersion);
  prefix.u32(static_cast<uint32_t>(headerBytes.size()));
  buffered_ = prefix.bytes() + headerBytes;
  recordEnds_.push_back(buffered_.size());
  try {
    writeBuffered();
  } catch (const std::runtime_error&) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(path_.c_str());  // no header, no log: nothing a reader could use
    throw;
  }
}

RoutingLogWriter::~RoutingLogWriter() {
  if (fd_ < 0) return;
  try {
    if (failure_.empty()) writeBuffered();
  } catch (const std::exception&) {  // the file still ends with a whole record
  }
  ::close(fd_);
}

void RoutingLogWriter::writeBuffered() {
  size_t written = 0;
  while (written < buffered_.size()) {
    ssize_t n = ::write(fd_, buffered_.data() + written, buffered_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      // Back to the end of the last record that was written whole.
      uint64_t keep = wholeBytes_;
      for (size_t end : recordEnds_) {
        if (end <= written) keep = wholeBytes_ + end;
      }
      const bool cut = ::ftruncate(fd_, static_cast<off_t>(keep)) == 0;
      failure_ = "cannot write " + describe(path_) + ": " + std::strerror(error) +
                 (cut ? "; the log keeps its " + std::to_string(keep) +
                            " bytes of whole records written before"
                      : "; it could not be cut back to its last whole record either");
      buffered_.clear();
      recordEnds_.clear();
      throw std::runtime_error(failure_);
    }
    written += static_cast<size_t>(n);
  }
  wholeBytes_ += buffered_.size();
  buffered_.clear();
  recordEnds_.clear();
}

void RoutingLogWriter::append(const RoutingRecord& record) {
  if (!failure_.empty()) throw std::runtime_error(failure_);
  std::string where = describe(path_) + " (writing batch " + std::to_string(record.batch) + ")";
  if (record.numTokens > kMaxTokensPerRecord) {
    throw InputError(where + ": numTokens " + std::to_string(record.numTokens) +
                     " is too large (at most " + std::to_string(kMaxTokensPerRecord) + ")");
  }
  uint64_t expected = uint64_t{record.numTokens} * header_.topK;
  if (record.experts.size() != expected || record.gateWeights.size() != expected) {
    throw InputError(where + ": record has " + std::to_string(record.experts.size()) +
                     " expert ids and " + std::to_string(record.gateWeights.size()) +
                     " gate weights; numTokens * topK = " + std::to_string(expected) +
                     " of each are required");
  }
  validateRecordContents(header_, record, where);

  ByteWriter writer;
  writer.u32(record.batch);
  writer.u32(record.moeLayer);
  writer.u32(record.step);
  writer.u32(record.numTokens);
  for (uint16_t expert : record.experts) writer.u16(expert);
  for (float weight : record.gateWeights) writer.u16(floatToBfloat16(weight));
  buffered_ += writer.bytes();
  recordEnds_.push_back(buffered_.size());
  if (buffered_.size() >= kWriteBufferBytes) writeBuffered();
}

void RoutingLogWriter::flush() {
  if (!failure_.empty()) throw std::runtime_error(failure_);
  writeBuffered();
}

// ---------------------------------------------------------------------------------------------
// Reader

void RoutingLogReader::fail(uint64_t offset, const std::string& problem) const {
  throw InputError(describe(path_) + ": " + problem + " at byte offset " + std::to_string(offset));
}

void RoutingLogReader::readExact(char* destination, uint64_t size, const char* what) {
  if (offset_ + size > fileSize_) {
    fail(offset_, std::string("truncated ") + what + " (needs " + std::to_string(size) +
                      " bytes, " + std::to_string(fileSize_ - offset_) + " left)");
  }
  in_.read(destination, static_cast<std::streamsize>(size));
  if (static_cast<uint64_t>(in_.gcount()) != size) {
    fail(offset_, std::string("cannot read ") + what + ": " + std::strerror(errno));
  }
  offset_ += size;
}

RoutingLogReader::RoutingLogReader(const std::filesystem::path& path, bool recoverTruncatedTail)
    : path_(path), recoverTruncatedTail_(recoverTruncatedTail) {
  std::error_code error;
  fileSize_ = std::filesystem::file_size(path_, error);
  in_.open(path_, std::ios::binary);
  if (error || !in_.is_open()) {
    throw InputError("cannot open " + describe(path_) + ": " +
                     (error ? error.message() : std::string(std::strerror(errno))));
  }
  std::string prefix(kPrefixBytes, '\0');
  readExact(prefix.data(), kPrefixBytes, "file prefix (magic, version, header length)");
  if (std::memcmp(prefix.data(), kRoutingLogMagic, sizeof kRoutingLogMagic) != 0) {
    fail(0, "not a routing log (magic bytes are not \"MOEROUTE\")");
  }
  ByteReader prefixReader(prefix, 0, path_);
  prefixReader.string(sizeof kRoutingLogMagic, "magic");
  uint32_t version = prefixReader.u32("version");
  if (version != kRoutingLogVersion) {
    fail(8, "version " + std::to_string(version) + " is not supported (this moeprof reads " +
                std::to_string(kRoutingLogVersion) + ")");
  }
  uint32_t headerBytes = prefixReader.u32("header length");
  std::string body(headerBytes, '\0');
  readExact(body.data(), headerBytes, "header");

  ByteReader reader(body, kPrefixBytes, path_);
  uint32_t modelBytes = reader.u32("model name length");
  header_.model = reader.string(modelBytes, "model name");
  header_.numExperts = reader.u32("numExperts");
  header_.topK = reader.u32("topK");
  uint32_t numLayers = reader.u32("numLayers");
  for (uint32_t i = 0; i < numLayers; ++i) {
    uint64_t stackOffset = reader.offset();
    uint8_t stack = reader.u8("layer stack");
    if (stack > static_cast<uint8_t>(LayerStack::Decoder)) {
      fail(stackOffset, "layer stack " + std::to_string(stack) + " of MoE layer " +
                            std::to_string(i) + " is unknown (allowed 0=lm, 1=encoder, 2=decoder)");
    }
    header_.layers.push_back({static_cast<LayerStack>(stack), reader.u32("layer block index")});
  }
  // Bytes after the known fields are left for additions that older readers may ignore.
  validateHeader(header_, describe(path_));
}

std::optional<RoutingRecord> RoutingLogReader::next() {
  if (offset_ == fileSize_) return std::nullopt;
  uint64_t recordOffset = offset_;
  auto endBefore = [&](uint64_t offset) -> std::optional<RoutingRecord> {
    truncatedTail_ = fileSize_ - offset;
    offset_ = fileSize_;
    return std::nullopt;
  };
  if (recoverTruncatedTail_ && fileSize_ - offset_ < kRecordFixedBytes) {
    return endBefore(recordOffset);
  }
  std::string fixed(kRecordFixedBytes, '\0');
  readExact(fixed.data(), kRecordFixedBytes, "record");
  ByteReader reader(fixed, recordOffset, path_);
  RoutingRecord record;
  record.batch = reader.u32("batch");
  record.moeLayer = reader.u32("moeLayer");
  record.step = reader.u32("step");
  record.numTokens = reader.u32("numTokens");
  if (record.numTokens > kMaxTokensPerRecord) {
    fail(recordOffset, "record claims " + std::to_string(record.numTokens) + " tokens (at most " +
                           std::to_string(kMaxTokensPerRecord) + "); the file is corrupt");
  }
  uint64_t count = uint64_t{record.numTokens} * header_.topK;
  if (offset_ + count * 4 > fileSize_) {
    if (recoverTruncatedTail_) return endBefore(recordOffset);
    fail(offset_, "truncated record (needs " + std::to_string(count * 4) + " bytes, " +
                      std::to_string(fileSize_ - offset_) + " left)");
  }
  std::string payload(count * 4, '\0');
  uint64_t payloadOffset = offset_;
  readExact(payload.data(), payload.size(), "record");
  ByteReader values(payload, payloadOffset, path_);
  record.experts.resize(count);
  record.gateWeights.resize(count);
  for (uint64_t i = 0; i < count; ++i) record.experts[i] = values.u16("expert id");
  for (uint64_t i = 0; i < count; ++i) record.gateWeights[i] = bfloat16ToFloat(values.u16("gate"));
  validateRecordContents(
      header_, record,
      describe(path_) + " (record at byte offset " + std::to_string(recordOffset) + ")");
  return record;
}

RoutingLog readRoutingLog(const std::filesystem::path& path) {
  RoutingLogReader reader(path, /*recoverTruncatedTail=*/true);
  RoutingLog log{reader.header(), {}, {}};
  while (std::optional<RoutingRecord> record = reader.next()) {
    log.records.push_back(std::move(*record));
  }
  if (uint64_t tail = reader.truncatedTail(); tail > 0) {
    log.warning = describe(path) + " ends inside a record at byte offset " +
                  std::to_string(reader.offset() - tail) + " (" + std::to_string(tail) +
                  " bytes of an unfinished record: a run killed while writing it, or out of "
                  "disk?); read the " +
                  std::to_string(log.records.size()) + " whole records before it";
    std::cerr << "moeprof: warning: " << log.warning << "\n";
  }
  return log;
}

}  // namespace moeprof::collector
