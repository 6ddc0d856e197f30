#include "workloads/buffering/expert_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <ATen/ATen.h>

#include "collector/cache_directory.h"

namespace moeprof::workloads {

namespace {

constexpr char kMagic[8] = {'M', 'O', 'E', 'P', 'E', 'X', 'P', 'S'};
constexpr uint32_t kVersion = 1;

// The first bytes of the file; the rest of its 4096-byte block is zero.
struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t numLayers;
  uint32_t numExperts;
  uint32_t reserved;
  int64_t dModel;
  int64_t ffn;
  int64_t recordBytes;
  uint64_t fingerprint;
};

int64_t alignUp(int64_t value, int64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
  throw std::runtime_error("expert file " + path.string() + ": " + what + ": " +
                           std::strerror(errno));
}

void writeAll(int fd, const std::byte* data, int64_t bytes, const std::filesystem::path& path) {
  while (bytes > 0) {
    ssize_t n = ::write(fd, data, static_cast<size_t>(bytes));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write failed", path);
    data += n;
    bytes -= n;
  }
}

// Copies expert e of `weights` into a record laid out by `layout`.
void fillRecord(const kernels::ExpertWeights& weights, int64_t e, const ExpertRecordLayout& layout,
                std::byte* record) {
  std::memset(record, 0, static_cast<size_t>(layout.recordBytes));
  kernels::ExpertView source = weights.expert(e);
  kernels::ExpertView target = layout.view(record);
  target.w1.copy_(source.w1);
  target.b1.copy_(source.b1);
  target.w2.copy_(source.w2);
  target.b2.copy_(source.b2);
}

void checkLayers(std::span<const kernels::ExpertWeights* const> layers) {
  if (layers.empty()) throw std::invalid_argument("expert file: no MoE layers");
  for (const auto* layer : layers) {
    if (layer->w1.scalar_type() != at::kFloat || !layer->w1.device().is_cpu() ||
        layer->numExperts() != layers[0]->numExperts()) {
      throw std::invalid_argument(
          "expert file: layers must hold float32 CPU experts, as many each");
    }
  }
}

}  // namespace

ExpertRecordLayout ExpertRecordLayout::of(int64_t dModel, int64_t ffn) {
  constexpr int64_t kTensorAlignment = 64;
  ExpertRecordLayout l;
  l.dModel = dModel;
  l.ffn = ffn;
  const int64_t f = sizeof(float);
  l.w1Offset = 0;
  l.b1Offset = alignUp(l.w1Offset + dModel * ffn * f, kTensorAlignment);
  l.w2Offset = alignUp(l.b1Offset + ffn * f, kTensorAlignment);
  l.b2Offset = alignUp(l.w2Offset + ffn * dModel * f, kTensorAlignment);
  l.expertBytes = (2 * dModel * ffn + ffn + dModel) * f;
  l.recordBytes = alignUp(l.b2Offset + dModel * f, kIoAlignment);
  return l;
}

kernels::ExpertView ExpertRecordLayout::view(std::byte* base) const {
  auto options = at::TensorOptions().dtype(at::kFloat);
  return {at::from_blob(base + w1Offset, {dModel, ffn}, options),
          at::from_blob(base + b1Offset, {ffn}, options),
          at::from_blob(base + w2Offset, {ffn, dModel}, options),
          at::from_blob(base + b2Offset, {dModel}, options)};
}

const char* expertIoModeName(ExpertIoMode mode) {
  return mode == ExpertIoMode::Direct ? "direct" : "dropped";
}

AlignedBuffer::AlignedBuffer(int64_t size) : bytes(alignUp(size, kIoAlignment)) {
  data = static_cast<std::byte*>(std::aligned_alloc(kIoAlignment, static_cast<size_t>(bytes)));
  if (!data) throw std::bad_alloc();
}

AlignedBuffer::~AlignedBuffer() {
  std::free(data);
}

ExpertFile::ExpertFile(std::filesystem::path path, ExpertRecordLayout layout, uint32_t layers,
                       uint32_t experts)
    : path_(std::move(path)), layout_(layout), numLayers_(layers), numExperts_(experts) {}

ExpertFile::ExpertFile(ExpertFile&& other) noexcept
    : path_(std::move(other.path_)),
      layout_(other.layout_),
      numLayers_(other.numLayers_),
      numExperts_(other.numExperts_),
      fd_(other.fd_),
      ioMode_(other.ioMode_),
      reused_(other.reused_) {
  other.fd_ = -1;
}

ExpertFile::~ExpertFile() {
  if (fd_ >= 0) ::close(fd_);
}

int64_t ExpertFile::recordOffset(uint32_t layer, uint32_t expert) const {
  return kIoAlignment + (int64_t{layer} * numExperts_ + expert) * layout_.recordBytes;
}

// Fills `buffers` from the file range starting at `offset`, resuming after short reads.
void ExpertFile::readAt(int64_t offset, std::span<const struct iovec> buffers) const {
  std::vector<struct iovec> left(buffers.begin(), buffers.end());
  int64_t bytes = 0;
  for (const auto& b : left) bytes += static_cast<int64_t>(b.iov_len);
  size_t first = 0;
  int64_t done = 0;
  while (done < bytes) {
    ssize_t n =
        ::preadv(fd_, left.data() + first, static_cast<int>(left.size() - first), offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("read failed", path_);
    if (n == 0) {
      errno = 0;
      throw std::runtime_error("expert file " + path_.string() + ": ends before offset " +
                               std::to_string(offset + bytes) + " (truncated?)");
    }
    done += n;
    for (auto rest = static_cast<size_t>(n); rest > 0;) {  // skip what this read filled
      size_t take = std::min(rest, left[first].iov_len);
      left[first].iov_base = static_cast<std::byte*>(left[first].iov_base) + take;
      left[first].iov_len -= take;
      rest -= take;
      if (left[first].iov_len == 0) ++first;
    }
  }
  if (ioMode_ == ExpertIoMode::Dropped) {
    ::posix_fadvise(fd_, offset, bytes, POSIX_FADV_DONTNEED);
  }
}

void ExpertFile::read(uint32_t layer, uint32_t expert, std::byte* destination) const {
  readAdjacent(layer, expert, std::span<std::byte* const>(&destination, 1));
}

void ExpertFile::readAdjacent(uint32_t layer, uint32_t first,
                              std::span<std::byte* const> destinations) const {
  if (layer >= numLayers_ || first + destinations.size() > numExperts_) {
    throw std::out_of_range(
        "expert file: layer " + std::to_string(layer) + " experts " + std::to_string(first) +
        " to " + std::to_string(first + destinations.size() - 1) + " are not all in the file");
  }
  std::vector<struct iovec> buffers;
  for (std::byte* d : destinations)
    buffers.push_back({d, static_cast<size_t>(layout_.recordBytes)});
  readAt(recordOffset(layer, first), buffers);
}

// Direct I/O where the file system takes it (a probe read tells), dropped pages elsewhere.
void ExpertFile::openForReading() {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd_ >= 0) {
    AlignedBuffer probe(kIoAlignment);
    if (::pread(fd_, probe.data, kIoAlignment, 0) == kIoAlignment) return;
    ::close(fd_);
  }
  ioMode_ = ExpertIoMode::Dropped;
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open", path_);
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED);
}

namespace {
constexpr int64_t kProbeChunk = int64_t{8} << 20;
}

// One probe pass: `depth` threads read `readBytes` at each of `offsets`, taking the next offset
// as they finish a read, so that `depth` reads are in flight until the last ones. Bytes per
// second over the whole pass.
double ExpertFile::measureTrial(const std::vector<int64_t>& offsets, int64_t readBytes,
                                uint32_t depth) const {
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex errorMutex;
  auto reader = [&] {
    try {
      AlignedBuffer buffer(readBytes);
      for (size_t i; (i = next.fetch_add(1)) < offsets.size();) {
        struct iovec chunk {
          buffer.data, static_cast<size_t>(readBytes)
        };
        readAt(offsets[i], std::span(&chunk, 1));
      }
    } catch (...) {
      std::lock_guard lock(errorMutex);
      error = std::current_exception();
    }
  };
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < depth; ++t) threads.emplace_back(reader);
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (error) std::rethrow_exception(error);
  const double bytes = static_cast<double>(readBytes) * static_cast<double>(offsets.size());
  return seconds > 0 ? bytes / seconds : 0.0;
}

// The offsets one probe trial reads (see measureBandwidth), and the bytes of each read.
std::pair<std::vector<int64_t>, int64_t> ExpertFile::probeOffsets(int64_t bytesPerTrial,
                                                                  uint32_t depth,
                                                                  ProbePattern pattern,
                                                                  int trial) const {
  const int64_t fileBytes = recordOffset(numLayers_, 0);  // a multiple of kIoAlignment
  std::vector<int64_t> offsets;
  if (pattern == ProbePattern::RandomRecords) {
    const int64_t records = int64_t{numLayers_} * numExperts_;
    // As many reads as the file has records at most (a small file is read about once, as the
    // sequential probe reads it), and enough to keep `depth` in flight for a while.
    const int64_t reads = std::max<int64_t>(
        4 * int64_t{depth}, std::min(bytesPerTrial, fileBytes) / layout_.recordBytes);
    std::mt19937_64 random(static_cast<uint64_t>(trial) + 1);
    for (int64_t i = 0; i < reads; ++i) {
      auto record = static_cast<int64_t>(random() % static_cast<uint64_t>(records));
      offsets.push_back(kIoAlignment + record * layout_.recordBytes);
    }
    return {offsets, layout_.recordBytes};
  }
  const int64_t chunk = std::min(kProbeChunk, fileBytes - kIoAlignment);
  const int64_t perTrial = std::min(fileBytes - kIoAlignment, std::max(chunk, bytesPerTrial));
  // Trials read different parts of the file where it is large enough.
  int64_t begin =
      kIoAlignment + (trial * perTrial) % std::max<int64_t>(kIoAlignment, fileBytes - perTrial + 1);
  begin -= begin % kIoAlignment;
  for (int64_t offset = begin; offset + chunk <= std::min(fileBytes, begin + perTrial);
       offset += chunk) {
    offsets.push_back(offset);
  }
  if (offsets.empty()) offsets.push_back(kIoAlignment);
  return {offsets, chunk};
}

void TierBandwidth::addTrial(double bytesPerSecond) {
  trialBytesPerSecond.push_back(bytesPerSecond);
  trials = static_cast<int>(trialBytesPerSecond.size());
  std::vector<double> sorted = trialBytesPerSecond;
  std::sort(sorted.begin(), sorted.end());
  minBytesPerSecond = sorted.front();
  maxBytesPerSecond = sorted.back();
  const size_t n = sorted.size();
  medianBytesPerSecond = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

void TierBandwidth::add(const TierBandwidth& other) {
  if (trials == 0) {
    depth = other.depth;
    readBytes = other.readBytes;
    random = other.random;
  }
  for (double rate : other.trialBytesPerSecond) addTrial(rate);
}

TierBandwidth ExpertFile::measureBandwidth(int64_t bytesPerTrial, uint32_t depth, int trials,
                                           ProbePattern pattern, int firstTrial) const {
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED);
  TierBandwidth out;
  out.random = pattern == ProbePattern::RandomRecords;
  out.depth = depth;
  for (int t = firstTrial; t < firstTrial + trials; ++t) {
    auto [offsets, readBytes] = probeOffsets(bytesPerTrial, depth, pattern, t);
    out.readBytes = readBytes;
    out.addTrial(measureTrial(offsets, readBytes, depth));
  }
  return out;
}

namespace {

FileHeader headerFor(const ExpertRecordLayout& layout, uint32_t layers, uint32_t experts,
                     uint64_t fingerprint) {
  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.numLayers = layers;
  h.numExperts = experts;
  h.dModel = layout.dModel;
  h.ffn = layout.ffn;
  h.recordBytes = layout.recordBytes;
  h.fingerprint = fingerprint;
  return h;
}

void writeFile(const std::filesystem::path& path, const FileHeader& header,
               std::span<const kernels::ExpertWeights* const> layers,
               const ExpertRecordLayout& layout) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create", path);
  try {
    AlignedBuffer block(kIoAlignment);
    std::memset(block.data, 0, kIoAlignment);
    std::memcpy(block.data, &header, sizeof header);
    writeAll(fd, block.data, kIoAlignment, path);
    AlignedBuffer record(layout.recordBytes);
    for (const auto* layer : layers) {
      for (int64_t e = 0; e < layer->numExperts(); ++e) {
        fillRecord(*layer, e, layout, record.data);
        writeAll(fd, record.data, layout.recordBytes, path);
      }
    }
    if (::fsync(fd) != 0) fail("fsync failed", path);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);  // written pages must not serve the reads
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

// Whether an existing file's record of (layer, expert) holds exactly these weights.
bool recordMatches(const ExpertFile& file, uint32_t layer, const kernels::ExpertWeights& weights,
                   uint32_t expert) {
  const auto& layout = file.layout();
  AlignedBuffer stored(layout.recordBytes), expected(layout.recordBytes);
  file.read(layer, expert, stored.data);
  fillRecord(weights, expert, layout, expected.data);
  return std::memcmp(stored.data, expected.data, static_cast<size_t>(layout.recordBytes)) == 0;
}

bool headerMatches(const std::filesystem::path& path, const FileHeader& expected) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  FileHeader found{};
  bool ok = ::pread(fd, &found, sizeof found, 0) == static_cast<ssize_t>(sizeof found) &&
            std::memcmp(&found, &expected, sizeof found) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

ExpertFile ExpertFile::openOrCreate(const std::filesystem::path& path,
                                    std::span<const kernels::ExpertWeights* const> layers,
                                    uint64_t fingerprint) {
  checkLayers(layers);
  const auto& first = *layers.front();
  auto layout = ExpertRecordLayout::of(first.w1.size(1), first.w1.size(2));
  auto numLayers = static_cast<uint32_t>(layers.size());
  auto numExperts = static_cast<uint32_t>(first.numExperts());
  FileHeader header = headerFor(layout, numLayers, numExperts, fingerprint);
  if (headerMatches(path, header)) {
    ExpertFile file(path, layout, numLayers, numExperts);
    file.openForReading();
    if (recordMatches(file, 0, first, 0) &&
        recordMatches(file, numLayers - 1, *layers.back(), numExperts - 1)) {
      file.reused_ = true;
      return file;
    }
  }
  std::filesystem::create_directories(path.parent_path());
  auto temporary = path;
  temporary += ".tmp" + std::to_string(::getpid());
  writeFile(temporary, header, layers, layout);
  std::filesystem::rename(temporary, path);
  ExpertFile file(path, layout, numLayers, numExperts);
  file.openForReading();
  return file;
}

std::filesystem::path expertFileCacheDirectory() {
  return collector::moeprofCacheDirectory() / "experts";
}

}  // namespace moeprof::workloads
