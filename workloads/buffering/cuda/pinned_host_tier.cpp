// PinnedHostTier on the CUDA runtime (workloads/buffering/pinned_host_tier.h). Compiled only where
// the CUDA toolkit is found, against cudart_static, without LibTorch.
#include "workloads/buffering/pinned_host_tier.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace moeprof::workloads {

namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("pinned host tier: ") + what + ": " +
                             cudaGetErrorString(status));
  }
}

void freeDeviceMemory(std::byte* data) {
  (void)cudaFree(data);
}

// An event, created with `flags`, destroyed with its owner.
class Event {
 public:
  explicit Event(unsigned flags) { check(cudaEventCreateWithFlags(&event_, flags), "event"); }
  Event(Event&& other) noexcept : event_(other.event_) { other.event_ = nullptr; }
  Event(const Event&) = delete;
  ~Event() {
    if (event_) (void)cudaEventDestroy(event_);
  }
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// A non-blocking stream: it does not synchronize with the legacy default stream.
class CopyStream {
 public:
  CopyStream() { check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream"); }
  CopyStream(CopyStream&& other) noexcept : stream_(other.stream_) { other.stream_ = nullptr; }
  CopyStream(const CopyStream&) = delete;
  ~CopyStream() {
    if (!stream_) return;
    (void)cudaStreamSynchronize(stream_);
    (void)cudaStreamDestroy(stream_);
  }
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// Device memory, freed with its owner (the probe's targets).
struct DeviceBuffer {
  explicit DeviceBuffer(int64_t bytes) {
    check(cudaMalloc(&data, static_cast<size_t>(bytes)), "cudaMalloc");
  }
  DeviceBuffer(DeviceBuffer&& other) noexcept : data(other.data) { other.data = nullptr; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data) (void)cudaFree(data);
  }
  void* data = nullptr;
};

int64_t elapsedNs(const Event& start, const Event& end) {
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start.get(), end.get()), "cudaEventElapsedTime");
  return static_cast<int64_t>(static_cast<double>(ms) * 1e6);
}

class CudaPinnedHostTier;

// One I/O thread's copy stream. The end event blocks the waiting thread instead of spinning:
// I/O threads may run SCHED_FIFO and would starve the compute threads while they spin.
class CudaLane final : public TierLane {
 public:
  CudaLane(const CudaPinnedHostTier& tier, int device);
  TierTransfer move(uint32_t layer, uint32_t first, std::span<std::byte* const> destinations,
                    std::span<const uint32_t> fences) override;

 private:
  const CudaPinnedHostTier& tier_;
  CopyStream stream_;
  Event start_{cudaEventDefault};
  Event end_{cudaEventBlockingSync};
};

class CudaPinnedHostTier final : public PinnedHostTier {
 public:
  CudaPinnedHostTier(const PinnedHostShape& shape, int device) : shape_(shape), device_(device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    void* host = nullptr;
    check(cudaHostAlloc(&host, static_cast<size_t>(shape.bytes()), cudaHostAllocDefault),
          "cudaHostAlloc of the pinned expert copy");
    host_ = static_cast<std::byte*>(host);
  }
  ~CudaPinnedHostTier() override {
    fences_.clear();
    (void)cudaFreeHost(host_);
  }

  TierMemory allocate(int64_t bytes) override {
    if (bytes == 0) return {};
    void* data = nullptr;
    check(cudaMalloc(&data, static_cast<size_t>(bytes)), "cudaMalloc of expert slots");
    return TierMemory(static_cast<std::byte*>(data), bytes, freeDeviceMemory);
  }
  std::unique_ptr<TierLane> openLane() override {
    return std::make_unique<CudaLane>(*this, device_);
  }
  void setFenceCount(uint32_t count) override {
    fences_.clear();
    for (uint32_t f = 0; f < count; ++f) fences_.emplace_back(cudaEventDisableTiming);
  }
  // Marks the end of the kernels issued so far on the compute stream (LibTorch's default, the
  // legacy stream); a copy that waits on it cannot overwrite memory those kernels read.
  void release(uint32_t fence) override {
    check(cudaEventRecord(fences_.at(fence).get(), cudaStreamLegacy), "fence record");
  }
  // On the compute stream itself: after the kernels that read `target`'s old expert, before
  // those that will read the new one, with no host wait.
  void copyWithin(std::byte* target, const std::byte* source, int64_t bytes,
                  uint32_t sourceFence) override {
    check(cudaMemcpyAsync(target, source, static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice,
                          cudaStreamLegacy),
          "device-to-device copy");
    release(sourceFence);
  }
  int64_t hostBytes() const override { return shape_.bytes(); }
  std::byte* hostRecords() override { return host_; }
  const PinnedHostShape& shape() const override { return shape_; }
  TierPeakTrials measurePeak(uint32_t depth, int trials, bool largeTransfers,
                             int firstTrial) override;

  cudaEvent_t fence(uint32_t f) const { return fences_.at(f).get(); }
  const std::byte* record(uint32_t layer, uint32_t expert) const {
    if (layer >= shape_.layers || expert >= shape_.experts) {
      throw std::out_of_range("pinned host tier: layer " + std::to_string(layer) + " expert " +
                              std::to_string(expert) + " is not in the copy");
    }
    return host_ + (int64_t{layer} * shape_.experts + expert) * shape_.recordBytes;
  }

 private:
  std::vector<int64_t> probeOffsets(uint32_t depth, int64_t transferBytes, bool random,
                                    int trial) const;
  double probeTrial(const std::vector<int64_t>& offsets, int64_t transferBytes,
                    std::vector<CopyStream>& streams, std::vector<DeviceBuffer>& targets) const;

  PinnedHostShape shape_;
  int device_ = 0;
  std::byte* host_ = nullptr;
  std::vector<Event> fences_;
};

// The device is set before the stream and events are made (members after tier_): they belong to
// the device current on this thread.
CudaLane::CudaLane(const CudaPinnedHostTier& tier, int device)
    : tier_((check(cudaSetDevice(device), "cudaSetDevice"), tier)) {}

TierTransfer CudaLane::move(uint32_t layer, uint32_t first,
                            std::span<std::byte* const> destinations,
                            std::span<const uint32_t> fences) {
  cudaStream_t stream = stream_.get();
  for (uint32_t fence : fences) check(cudaStreamWaitEvent(stream, tier_.fence(fence), 0), "wait");
  check(cudaEventRecord(start_.get(), stream), "event record");
  const auto bytes = static_cast<size_t>(tier_.shape().recordBytes);
  for (size_t i = 0; i < destinations.size(); ++i) {
    check(cudaMemcpyAsync(destinations[i], tier_.record(layer, first + static_cast<uint32_t>(i)),
                          bytes, cudaMemcpyHostToDevice, stream),
          "host-to-device copy");
  }
  check(cudaEventRecord(end_.get(), stream), "event record");
  check(cudaEventSynchronize(end_.get()), "copy");
  return {elapsedNs(start_, end_), true};
}

constexpr int64_t kProbeBytesPerTrial = int64_t{64} << 20;
constexpr int64_t kProbeChunkBytes = int64_t{8} << 20;

// Byte offsets into the pinned copy that one probe pass copies from.
std::vector<int64_t> CudaPinnedHostTier::probeOffsets(uint32_t depth, int64_t transferBytes,
                                                      bool random, int trial) const {
  const int64_t copies = std::max<int64_t>(4 * int64_t{depth}, kProbeBytesPerTrial / transferBytes);
  std::vector<int64_t> offsets;
  const int64_t records = int64_t{shape_.layers} * shape_.experts;
  const int64_t chunks = std::max<int64_t>(1, shape_.bytes() / transferBytes);
  std::mt19937_64 generator(static_cast<uint64_t>(trial) + 1);
  for (int64_t i = 0; i < copies; ++i) {
    offsets.push_back(random ? static_cast<int64_t>(generator() % static_cast<uint64_t>(records)) *
                                   shape_.recordBytes
                             : (i % chunks) * transferBytes);
  }
  return offsets;
}

// One pass: copy i goes to stream i % depth, so that each stream has one copy in flight and the
// pass `depth`; timed from an event every stream waits on to the last stream's end.
double CudaPinnedHostTier::probeTrial(const std::vector<int64_t>& offsets, int64_t transferBytes,
                                      std::vector<CopyStream>& streams,
                                      std::vector<DeviceBuffer>& targets) const {
  Event start(cudaEventDefault);
  std::vector<Event> ends;
  check(cudaEventRecord(start.get(), streams[0].get()), "event record");
  for (auto& stream : streams) check(cudaStreamWaitEvent(stream.get(), start.get(), 0), "wait");
  for (size_t i = 0; i < offsets.size(); ++i) {
    check(cudaMemcpyAsync(targets[i % targets.size()].data, host_ + offsets[i],
                          static_cast<size_t>(transferBytes), cudaMemcpyHostToDevice,
                          streams[i % streams.size()].get()),
          "probe copy");
  }
  int64_t ns = 0;
  for (auto& stream : streams) {
    ends.emplace_back(cudaEventBlockingSync);
    check(cudaEventRecord(ends.back().get(), stream.get()), "event record");
  }
  for (auto& end : ends) {
    check(cudaEventSynchronize(end.get()), "probe");
    ns = std::max(ns, elapsedNs(start, end));
  }
  const double bytes = static_cast<double>(transferBytes) * static_cast<double>(offsets.size());
  return ns > 0 ? bytes * 1e9 / static_cast<double>(ns) : 0.0;
}

TierPeakTrials CudaPinnedHostTier::measurePeak(uint32_t depth, int trials, bool largeTransfers,
                                               int firstTrial) {
  check(cudaSetDevice(device_), "cudaSetDevice");
  depth = std::max<uint32_t>(depth, 1);
  TierPeakTrials out;
  out.depth = depth;
  out.random = !largeTransfers;
  out.transferBytes =
      largeTransfers ? std::min(kProbeChunkBytes, shape_.bytes()) : shape_.recordBytes;
  if (largeTransfers) out.transferBytes -= out.transferBytes % shape_.recordBytes;
  std::vector<CopyStream> streams(depth);
  std::vector<DeviceBuffer> targets;
  for (uint32_t d = 0; d < depth; ++d) targets.emplace_back(out.transferBytes);
  probeTrial(probeOffsets(depth, out.transferBytes, out.random, 0), out.transferBytes, streams,
             targets);  // warm-up: first copies pay for lazy setup
  for (int t = firstTrial; t < firstTrial + trials; ++t) {
    out.bytesPerSecond.push_back(probeTrial(probeOffsets(depth, out.transferBytes, out.random, t),
                                            out.transferBytes, streams, targets));
  }
  return out;
}

}  // namespace

std::unique_ptr<PinnedHostTier> PinnedHostTier::create(const PinnedHostShape& shape, int device) {
  if (shape.bytes() <= 0) throw std::invalid_argument("pinned host tier: no expert records");
  return std::make_unique<CudaPinnedHostTier>(shape, device);
}

}  // namespace moeprof::workloads
