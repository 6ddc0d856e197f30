#pragma once
// The routing log: for every measured batch, MoE layer and token, the experts the router chose
// and their gate weights. Written by live runs, replayed by analysis (cache and placement
// simulation). Binary, little-endian, versioned; the format is documented in
// collector/ROUTING_LOG.md.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace moeprof::collector {

inline constexpr char kRoutingLogMagic[8] = {'M', 'O', 'E', 'R', 'O', 'U', 'T', 'E'};
inline constexpr uint32_t kRoutingLogVersion = 1;
// Set on an expert id when static gating dropped that token-expert assignment (over capacity).
inline constexpr uint16_t kDroppedFlag = 0x8000;
inline constexpr uint32_t kMaxExperts = kDroppedFlag;  // ids must fit in 15 bits

// Which stack of the model an MoE layer belongs to.
enum class LayerStack : uint8_t { Lm = 0, Encoder = 1, Decoder = 2 };
const char* layerStackName(LayerStack stack);  // "lm", "encoder", "decoder"

// Gate weights are stored as bfloat16: the top 16 bits of an IEEE float, rounded to nearest even
// (NaN stays NaN). Exposed so that tests and tools can predict exactly what a log stores.
uint16_t floatToBfloat16(float value);
float bfloat16ToFloat(uint16_t bits);

// One MoE layer of the model: its stack and the index of its transformer block in that stack.
struct MoeLayerInfo {
  LayerStack stack = LayerStack::Lm;
  uint32_t blockIndex = 0;
  bool operator==(const MoeLayerInfo&) const = default;
};

// What a whole log describes: the model and its MoE layers (index = MoE layer id in records).
struct RoutingLogHeader {
  std::string model;  // preset name, e.g. "lm-cpu"
  uint32_t numExperts = 0;
  uint32_t topK = 0;
  std::vector<MoeLayerInfo> layers;
  bool operator==(const RoutingLogHeader&) const = default;
};

// The routing of one batch through one MoE layer (one decoder step for incremental decoding).
struct RoutingRecord {
  uint32_t batch = 0;     // index of the measured batch (warm-up batches are not logged)
  uint32_t moeLayer = 0;  // index into RoutingLogHeader::layers
  uint32_t step = 0;      // decoder step for incremental decoding, 0 otherwise
  uint32_t numTokens = 0;
  std::vector<uint16_t> experts;   // numTokens * topK, token-major; kDroppedFlag marks drops
  std::vector<float> gateWeights;  // numTokens * topK; stored as bfloat16 (about 3 digits)
  bool operator==(const RoutingRecord&) const = default;
};

// Appends records to a new log file. Throws std::runtime_error when the file cannot be written
// and InputError when a record does not match the header (wrong sizes, expert id out of range).
// The file only ever ends between whole records: records are buffered whole and written with
// one write each batch of them, and a write that fails (a full disk, a file size limit) is cut
// back to the last whole record before the error is thrown; the writer then refuses to append.
class RoutingLogWriter {
 public:
  RoutingLogWriter(const std::filesystem::path& path, const RoutingLogHeader& header);
  ~RoutingLogWriter();  // writes what is buffered; an error then only goes unreported
  RoutingLogWriter(const RoutingLogWriter&) = delete;
  RoutingLogWriter& operator=(const RoutingLogWriter&) = delete;
  void append(const RoutingRecord& record);
  void flush();

 private:
  void writeBuffered();

  RoutingLogHeader header_;
  std::filesystem::path path_;
  int fd_ = -1;
  std::string buffered_;            // whole records not yet written
  std::vector<size_t> recordEnds_;  // where each buffered record ends in buffered_
  uint64_t wholeBytes_ = 0;         // the file's size up to its last whole record
  std::string failure_;             // the write error that stopped this writer
};

// Reads a log record by record. Throws InputError naming the file and byte offset when the file
// is not a routing log, has an unsupported version, or is truncated or corrupt. With
// `recoverTruncatedTail`, a file that ends inside a record (a run killed mid-write, an older
// writer on a full disk) instead ends after its last whole record: next() returns nullopt there
// and truncatedTail() says how many bytes were left unread.
class RoutingLogReader {
 public:
  explicit RoutingLogReader(const std::filesystem::path& path, bool recoverTruncatedTail = false);
  const RoutingLogHeader& header() const { return header_; }
  std::optional<RoutingRecord> next();  // nullopt at a clean end of file
  uint64_t truncatedTail() const { return truncatedTail_; }
  uint64_t offset() const { return offset_; }  // bytes read so far

 private:
  void readExact(char* destination, uint64_t size, const char* what);
  [[noreturn]] void fail(uint64_t offset, const std::string& problem) const;

  RoutingLogHeader header_;
  std::filesystem::path path_;
  std::ifstream in_;
  uint64_t offset_ = 0;    // bytes consumed so far; error messages point here
  uint64_t fileSize_ = 0;  // bounds record sizes before allocating, so corrupt counts cannot OOM
  bool recoverTruncatedTail_ = false;
  uint64_t truncatedTail_ = 0;  // bytes after the last whole record, when recovered
};

// Convenience: the whole log in memory. A log that ends inside a record is read up to its last
// whole record, with a warning on stderr (in `warning` too) naming the file and the offset.
struct RoutingLog {
  RoutingLogHeader header;
  std::vector<RoutingRecord> records;
  std::string warning;  // empty when the file ended cleanly
};
RoutingLog readRoutingLog(const std::filesystem::path& path);

// Parses "lm", "encoder" or "decoder"; throws InputError naming the value otherwise.
LayerStack parseLayerStack(const std::string& name);
// The part of a log that one stack's MoE layers recorded, its layers renumbered in order (the
// paper evaluates Expert Buffering on MT decoder traces). Throws InputError when the log has no
// layer of that stack.
RoutingLog onlyStack(const RoutingLog& log, LayerStack stack);

// A forward pass: (measured batch, decoder step); step 0 outside incremental decoding.
using RoutingPass = std::pair<uint32_t, uint32_t>;
// The records of a log routed in the given passes (a time range of the trace), in log order;
// the header unchanged.
RoutingLog onlyPasses(const RoutingLog& log, const std::set<RoutingPass>& passes);

}  // namespace moeprof::collector
