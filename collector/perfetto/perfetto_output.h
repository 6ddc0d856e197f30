#pragma once
// The output side of the Perfetto export (collector/perfetto/perfetto_writer.h): a buffered JSON
// text writer with exact, allocation-free number formatting, the sinks it flushes into (a string, a
// file descriptor, gzip through zlib), and an output file that appears complete or not at all.
// The writer exists because nlohmann::json per event is about 20x too slow for traces of millions
// of events, and because timestamps must print as exact decimals (1234.567 µs), not doubles.
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace moeprof::collector {

// Where JsonTextWriter's full chunks go. write() throws std::runtime_error on I/O errors.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void write(const char* data, size_t size) = 0;
  virtual void finish() {}  // after the last write: flushes what the sink itself buffers
};

// Collects everything in a string (tests, golden files).
class StringSink final : public OutputSink {
 public:
  void write(const char* data, size_t size) override { text_.append(data, size); }
  std::string& text() { return text_; }

 private:
  std::string text_;
};

// Writes to an open file descriptor it does not own; counts the bytes written.
class FileSink final : public OutputSink {
 public:
  FileSink(int fd, std::string pathForErrors) : fd_(fd), path_(std::move(pathForErrors)) {}
  void write(const char* data, size_t size) override;
  int64_t bytesWritten() const { return bytes_; }

 private:
  int fd_;
  std::string path_;
  int64_t bytes_ = 0;
};

// Compresses into a gzip stream (RFC 1952, what `gzip -d` and zlib's inflate read) and passes
// the compressed bytes on. Level 1 by default: trace JSON still shrinks about 10x, and the export
// stays close to the speed of writing plain JSON.
class GzipSink final : public OutputSink {
 public:
  explicit GzipSink(OutputSink& next, int level = 1);
  ~GzipSink() override;
  void write(const char* data, size_t size) override;
  void finish() override;

 private:
  struct Stream;
  void deflateChunk(const char* data, size_t size, bool last);
  OutputSink& next_;
  std::unique_ptr<Stream> stream_;
  bool finished_ = false;
};

// Passes chunks on to `next` from a thread of its own, so that formatting overlaps compression
// and the write system calls (on two cores, the export then takes about as long as the slower
// of the two instead of their sum). Holds at most `queueChunks` chunks; write() copies the chunk
// and blocks while the queue is full. An error of the thread is rethrown by the next write() or
// by finish(); the destructor without finish() drops what is still queued.
class BackgroundSink final : public OutputSink {
 public:
  explicit BackgroundSink(OutputSink& next, size_t queueChunks = 4);
  ~BackgroundSink() override;
  BackgroundSink(const BackgroundSink&) = delete;
  BackgroundSink& operator=(const BackgroundSink&) = delete;
  void write(const char* data, size_t size) override;
  void finish() override;  // waits for the queue to drain, then finishes `next` on this thread

 private:
  void run();
  void stop();

  OutputSink& next_;
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;
  std::vector<std::string> spare_;  // emptied chunks, reused to avoid page faults
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

// Appends JSON text to a fixed chunk and hands full chunks to a sink. Numbers are formatted with
// std::to_chars and fixed-point integer arithmetic, so output is exact and locale-independent.
class JsonTextWriter {
 public:
  static constexpr size_t kChunkBytes = 1 << 20;

  explicit JsonTextWriter(OutputSink& sink) : sink_(sink), buffer_(new char[kChunkBytes]) {}

  void raw(std::string_view text) {
    if (text.size() > kChunkBytes - used_) {
      flushChunk();
      if (text.size() > kChunkBytes) {
        sink_.write(text.data(), text.size());
        flushed_ += static_cast<int64_t>(text.size());
        return;
      }
    }
    std::memcpy(buffer_.get() + used_, text.data(), text.size());
    used_ += text.size();
  }
  void put(char c) {
    if (used_ == kChunkBytes) flushChunk();
    buffer_[used_++] = c;
  }
  void i64(int64_t value) { number(value); }
  void u64(uint64_t value) { number(value); }
  // Nanoseconds as microseconds with exactly three decimals: 1234567 -> "1234.567".
  void micros(int64_t ns);
  // numerator/denominator in [0, 1] with six decimals, rounded half up: 5/6 -> "0.833333".
  void ratio(int64_t numerator, int64_t denominator);
  // A quoted JSON string: '"', '\\' and control characters escaped, invalid UTF-8 bytes
  // replaced by U+FFFD, so that every JSON parser accepts the output.
  void string(std::string_view text);

  // Hands the buffered text to the sink (not the sink's finish()).
  void flush() { flushChunk(); }
  int64_t bytes() const { return flushed_ + static_cast<int64_t>(used_); }

 private:
  static constexpr size_t kMaxNumberChars = 24;

  template <typename Integer>
  void number(Integer value) {
    if (kChunkBytes - used_ < kMaxNumberChars) flushChunk();
    char* begin = buffer_.get() + used_;
    used_ += static_cast<size_t>(std::to_chars(begin, begin + kMaxNumberChars, value).ptr - begin);
  }
  void reserve(size_t bytes) {
    if (kChunkBytes - used_ < bytes) flushChunk();
  }
  void escapedSlow(std::string_view text);
  void flushChunk();

  OutputSink& sink_;
  std::unique_ptr<char[]> buffer_;
  size_t used_ = 0;
  int64_t flushed_ = 0;
};

// A file that appears under its final name complete or not at all: written to a temporary beside
// it (same directory, so the rename cannot cross file systems), fsynced, then renamed over the
// target with commit(). Without commit(), the destructor removes the temporary and the target is
// untouched. commit(false) refuses to replace an existing target, atomically (link(2)).
class AtomicOutputFile {
 public:
  // Throws std::runtime_error naming the path when the temporary cannot be created.
  explicit AtomicOutputFile(std::filesystem::path target);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  int fd() const { return fd_; }
  const std::filesystem::path& temporaryPath() const { return temporary_; }
  // Throws std::runtime_error on I/O errors, InputError when !replace and the target exists.
  void commit(bool replace);

 private:
  std::filesystem::path target_;
  std::filesystem::path temporary_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace moeprof::collector
