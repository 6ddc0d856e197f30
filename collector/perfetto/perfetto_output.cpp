#include "collector/perfetto/perfetto_output.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <stdexcept>

#include "collector/errors.h"

namespace moeprof::collector {

namespace {

std::string systemError(const std::string& action, const std::filesystem::path& path) {
  return "cannot " + action + " " + path.string() + ": " + std::strerror(errno);
}

// Characters a JSON string can carry as they are: printable ASCII except '"' and '\\'.
constexpr bool isPlain(unsigned char c) {
  return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 when it is not one (overlong
// forms, surrogates and code points above U+10FFFF count as invalid, as RFC 3629 says).
size_t utf8SequenceLength(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
  if (length == 0 || lead > 0xF4 || i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  unsigned char second = byte(i + 1);
  if (lead == 0xE0 && second < 0xA0) return 0;   // overlong
  if (lead == 0xED && second >= 0xA0) return 0;  // UTF-16 surrogate
  if (lead == 0xF0 && second < 0x90) return 0;   // overlong
  if (lead == 0xF4 && second >= 0x90) return 0;  // above U+10FFFF
  return length;
}

}  // namespace

// ---- Sinks ------------------------------------------------------------------------------------

void FileSink::write(const char* data, size_t size) {
  size_t written = 0;
  while (written < size) {
    ssize_t n = ::write(fd_, data + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(systemError("write", path_));
    written += static_cast<size_t>(n);
  }
  bytes_ += static_cast<int64_t>(size);
}

struct GzipSink::Stream {
  z_stream z{};
  std::unique_ptr<unsigned char[]> out{new unsigned char[JsonTextWriter::kChunkBytes]};
};

GzipSink::GzipSink(OutputSink& next, int level) : next_(next), stream_(new Stream) {
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&stream_->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("cannot start gzip compression (zlib deflateInit2 failed)");
  }
}

GzipSink::~GzipSink() {
  deflateEnd(&stream_->z);
}

void GzipSink::deflateChunk(const char* data, size_t size, bool last) {
  z_stream& z = stream_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  z.avail_in = static_cast<uInt>(size);
  int status = Z_OK;
  do {
    z.next_out = stream_->out.get();
    z.avail_out = static_cast<uInt>(JsonTextWriter::kChunkBytes);
    status = deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
    if (status == Z_STREAM_ERROR) throw std::runtime_error("gzip compression failed (zlib)");
    size_t produced = JsonTextWriter::kChunkBytes - z.avail_out;
    if (produced > 0) next_.write(reinterpret_cast<const char*>(stream_->out.get()), produced);
  } while (z.avail_out == 0 || (last && status != Z_STREAM_END));
}

void GzipSink::write(const char* data, size_t size) {
  // zlib takes at most 4 GiB per call (uInt); chunks are far smaller, this keeps it true.
  constexpr size_t kMaxInput = size_t{1} << 30;
  while (size > 0) {
    size_t part = size < kMaxInput ? size : kMaxInput;
    deflateChunk(data, part, false);
    data += part;
    size -= part;
  }
}

void GzipSink::finish() {
  if (finished_) return;
  deflateChunk(nullptr, 0, true);
  finished_ = true;
  next_.finish();
}

BackgroundSink::BackgroundSink(OutputSink& next, size_t queueChunks)
    : next_(next), capacity_(queueChunks > 0 ? queueChunks : 1) {
  thread_ = std::thread([this] { run(); });
}

BackgroundSink::~BackgroundSink() {
  {
    std::lock_guard lock(mutex_);
    queue_.clear();
  }
  stop();
}

void BackgroundSink::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BackgroundSink::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping, and everything is written
    std::string chunk = std::move(queue_.front());
    queue_.pop_front();
    bool failed = error_ != nullptr;
    lock.unlock();
    if (!failed) {
      try {
        next_.write(chunk.data(), chunk.size());
      } catch (...) {
        lock.lock();
        error_ = std::current_exception();
        lock.unlock();
      }
    }
    lock.lock();
    spare_.push_back(std::move(chunk));
    changed_.notify_all();
  }
}

void BackgroundSink::write(const char* data, size_t size) {
  std::string chunk;
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return queue_.size() < capacity_ || error_ != nullptr; });
    if (error_) std::rethrow_exception(error_);
    if (!spare_.empty()) {
      chunk = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  chunk.assign(data, size);  // outside the lock: the thread keeps writing meanwhile
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(chunk));
  }
  changed_.notify_all();
}

void BackgroundSink::finish() {
  stop();
  if (error_) std::rethrow_exception(error_);
  next_.finish();
}

// ---- JsonTextWriter ---------------------------------------------------------------------------

void JsonTextWriter::flushChunk() {
  if (used_ == 0) return;
  sink_.write(buffer_.get(), used_);
  flushed_ += static_cast<int64_t>(used_);
  used_ = 0;
}

void JsonTextWriter::micros(int64_t ns) {
  reserve(kMaxNumberChars + 8);
  char* out = buffer_.get() + used_;
  // Through unsigned arithmetic, so that even INT64_MIN prints correctly.
  uint64_t magnitude = ns < 0 ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  if (ns < 0) *out++ = '-';
  out = std::to_chars(out, out + kMaxNumberChars, magnitude / 1000).ptr;
  unsigned fraction = static_cast<unsigned>(magnitude % 1000);
  out[0] = '.';
  out[1] = static_cast<char>('0' + fraction / 100);
  out[2] = static_cast<char>('0' + fraction / 10 % 10);
  out[3] = static_cast<char>('0' + fraction % 10);
  used_ = static_cast<size_t>(out + 4 - buffer_.get());
}

void JsonTextWriter::ratio(int64_t numerator, int64_t denominator) {
  constexpr int64_t kScale = 1'000'000;
  int64_t scaled = 0;
  if (denominator > 0 && numerator > 0) {
    // 128-bit so that counts up to 2^63 cannot overflow the scaling.
    __int128 wide = (static_cast<__int128>(numerator) * kScale * 2 + denominator) /
                    (static_cast<__int128>(denominator) * 2);
    scaled = static_cast<int64_t>(wide > kScale ? kScale : wide);
  }
  reserve(kMaxNumberChars);
  char* out = buffer_.get() + used_;
  *out++ = static_cast<char>('0' + scaled / kScale);
  *out++ = '.';
  int64_t fraction = scaled % kScale;
  for (int64_t digit = kScale / 10; digit > 0; digit /= 10) {
    *out++ = static_cast<char>('0' + fraction / digit % 10);
  }
  used_ = static_cast<size_t>(out - buffer_.get());
}

void JsonTextWriter::string(std::string_view text) {
  bool plain = text.size() + 2 <= kChunkBytes;
  for (size_t i = 0; plain && i < text.size(); ++i) {
    plain = isPlain(static_cast<unsigned char>(text[i]));
  }
  if (!plain) {
    escapedSlow(text);
    return;
  }
  reserve(text.size() + 2);
  char* out = buffer_.get() + used_;
  out[0] = '"';
  std::memcpy(out + 1, text.data(), text.size());
  out[text.size() + 1] = '"';
  used_ += text.size() + 2;
}

void JsonTextWriter::escapedSlow(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  put('"');
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (isPlain(c)) {
      put(static_cast<char>(c));
      ++i;
    } else if (c == '"' || c == '\\') {
      put('\\');
      put(static_cast<char>(c));
      ++i;
    } else if (c < 0x20) {
      switch (c) {
        case '\n':
          raw("\\n");
          break;
        case '\t':
          raw("\\t");
          break;
        case '\r':
          raw("\\r");
          break;
        default: {
          char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          raw(std::string_view(escape, sizeof(escape)));
        }
      }
      ++i;
    } else if (size_t length = utf8SequenceLength(text, i); length > 0) {
      raw(text.substr(i, length));
      i += length;
    } else {
      raw("\\ufffd");
      ++i;
    }
  }
  put('"');
}

// ---- AtomicOutputFile -------------------------------------------------------------------------

AtomicOutputFile::AtomicOutputFile(std::filesystem::path target) : target_(std::move(target)) {
  std::filesystem::path directory =
      target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
  // Hidden and named after the process, so that concurrent exports never share a temporary.
  temporary_ =
      directory / ("." + target_.filename().string() + "." + std::to_string(getpid()) + ".tmp");
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error(systemError("create", temporary_));
}

AtomicOutputFile::~AtomicOutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temporary_.c_str());
}

void AtomicOutputFile::commit(bool replace) {
  if (::fsync(fd_) != 0) throw std::runtime_error(systemError("sync", temporary_));
  int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) throw std::runtime_error(systemError("close", temporary_));
  if (replace) {
    if (::rename(temporary_.c_str(), target_.c_str()) != 0) {
      throw std::runtime_error(systemError("rename " + temporary_.string() + " to", target_));
    }
  } else {
    // link() fails with EEXIST instead of replacing: no window in which a file created
    // meanwhile could be overwritten.
    if (::link(temporary_.c_str(), target_.c_str()) != 0) {
      if (errno == EEXIST) {
        throw InputError("output " + target_.string() +
                         " already exists; pass --force to replace it");
      }
      throw std::runtime_error(systemError("create", target_));
    }
    ::unlink(temporary_.c_str());
  }
  committed_ = true;
  std::filesystem::path directory =
      target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
  // Makes the rename durable; best effort, as some file systems refuse fsync on directories.
  int dirFd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0) {
    ::fsync(dirFd);
    ::close(dirFd);
  }
}

}  // namespace moeprof::collector
