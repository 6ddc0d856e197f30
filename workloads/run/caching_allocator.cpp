#include "workloads/run/caching_allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

namespace moeprof::workloads {

namespace {

constexpr size_t kAlignment = 64;                    // as LibTorch's CPU allocator
constexpr size_t kRounding = 512;                    // sizes that differ by less share blocks
constexpr size_t kMaxCachedBytes = size_t{8} << 30;  // beyond this, freed blocks go back

class CachingCpuAllocator;

// One allocation; the DataPtr's context, so the deleter finds its owner and size.
struct Block {
  void* ptr;
  size_t size;
  CachingCpuAllocator* owner;
};

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t nbytes) const override {
    auto* self = const_cast<CachingCpuAllocator*>(this);
    if (nbytes == 0) return {nullptr, nullptr, &noDelete, c10::Device(c10::DeviceType::CPU)};
    Block* block = self->take((nbytes + kRounding - 1) / kRounding * kRounding);
    report(block->ptr, static_cast<int64_t>(block->size));
    return {block->ptr, block, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }

  CachingAllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {reserved_, cached_};
  }

 private:
  static void noDelete(void*) {}

  static void release(void* context) {
    auto* block = static_cast<Block*>(context);
    block->owner->report(block->ptr, -static_cast<int64_t>(block->size));
    block->owner->giveBack(block);
  }

  void report(void* ptr, int64_t delta) const {
    if (!c10::memoryProfilingEnabled()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    inUse_ += delta;
    c10::reportMemoryUsageToProfiler(ptr, delta, inUse_, static_cast<int64_t>(reserved_),
                                     c10::Device(c10::DeviceType::CPU));
  }

  Block* take(size_t size) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& free = free_[size];
      if (!free.empty()) {
        Block* block = free.back();
        free.pop_back();
        cached_ -= size;
        return block;
      }
      reserved_ += size;
    }
    void* ptr = nullptr;
    if (posix_memalign(&ptr, kAlignment, size) != 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      reserved_ -= size;
      throw std::bad_alloc();
    }
    return new Block{ptr, size, this};
  }

  void giveBack(Block* block) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + block->size <= kMaxCachedBytes) {
      free_[block->size].push_back(block);
      cached_ += block->size;
      return;
    }
    reserved_ -= block->size;
    std::free(block->ptr);
    delete block;
  }

  mutable std::mutex mutex_;
  mutable int64_t inUse_ = 0;
  size_t reserved_ = 0;
  size_t cached_ = 0;
  std::unordered_map<size_t, std::vector<Block*>> free_;
};

CachingCpuAllocator& processAllocator() {
  // Lives for the whole process: tensors anywhere may hold its blocks until exit.
  static auto* allocator = new CachingCpuAllocator();
  return *allocator;
}

}  // namespace

void installCachingCpuAllocator() {
  static std::once_flag installed;
  std::call_once(installed, [] { c10::SetCPUAllocator(&processAllocator(), /*priority=*/1); });
}

CachingAllocatorStats cachingAllocatorStats() {
  return processAllocator().stats();
}

}  // namespace moeprof::workloads
