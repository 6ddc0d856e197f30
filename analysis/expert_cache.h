#pragma once
// Expert Buffering (Huang et al., Expert Buffering): a fixed number of device slots holding
// experts, and the eviction policies that decide which expert leaves when a missing one must come
// in. Written once, torch-free, so that live runs and trace replay (`moeprof simulate`) call the
// same code (DESIGN.md, "Policies are written once").
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moeprof::analysis {

// What a cache slot holds: one expert of one MoE layer, numbered layer * numExperts + expert so
// that one pool can serve all layers. Real key spaces stay below 2^20 (layers x experts);
// caches accept keys below kExpertKeyLimit, which bounds their key -> slot index at 64 MiB.
using ExpertKey = uint32_t;
inline constexpr ExpertKey kNoExpertKey = UINT32_MAX;
inline constexpr ExpertKey kExpertKeyLimit = ExpertKey{1} << 24;
inline constexpr ExpertKey expertKey(uint32_t moeLayer, uint32_t expert, uint32_t numExperts) {
  return moeLayer * numExperts + expert;
}

// A read-only view of the cache's slots that policies choose victims from. Slots [0, size) are
// occupied; the arrays are parallel, indexed by slot. Times are positions in the cache's own
// access sequence (0 for its first access), so "now" is the position of the access being served.
struct CacheSlots {
  uint32_t size = 0;
  const ExpertKey* keys = nullptr;
  const uint64_t* insertedAt = nullptr;  // position of the miss that brought the key in
  const uint64_t* lastUsedAt = nullptr;  // position of the key's latest access
  const uint64_t* useCount = nullptr;    // accesses since the key was brought in (>= 1)
  const uint8_t* active = nullptr;       // 1 when the current batch uses the key
  uint64_t now = 0;
};

// Chooses which occupied slot to evict when the cache is full and `incoming` missed. Called
// only on misses, so hits cost no virtual call. Implementations keep no per-access state; all
// they need is in CacheSlots (Belady adds the future it was built with).
class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  virtual std::string_view name() const = 0;
  virtual uint32_t chooseVictim(const CacheSlots& slots, ExpertKey incoming) const = 0;
};

// The paper's policy: first evict an expert the current batch does not use (it cannot be needed
// again before the next batch), and among the candidates the most recently inserted one
// (last in, first out). If every cached expert is active, the most recently inserted of all.
// Why LIFO: experts run in increasing id order within a batch, so the expert inserted last has
// just run and the ones inserted earlier wait for low ids of the next batch; evicting the last
// one keeps the shortest reuse distances resident, where FIFO would evict exactly the expert
// needed next (on a cyclic scan FIFO misses every time). The paper uses it per layer; in one
// pool shared by all layers the latest inserted inactive experts are those of the layer that
// just ran, which the next decoder step needs first, so there it can do worse than LRU.
class LifoPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "lifo"; }
  uint32_t chooseVictim(const CacheSlots& slots, ExpertKey incoming) const override;
};

// Least recently used.
class LruPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "lru"; }
  uint32_t chooseVictim(const CacheSlots& slots, ExpertKey incoming) const override;
};

// Least frequently used, counting accesses since the key was inserted (in-cache LFU: a key
// evicted and brought back starts over, so old popularity cannot pin a key forever); ties go to
// the least recently used.
class LfuPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "lfu"; }
  uint32_t chooseVictim(const CacheSlots& slots, ExpertKey incoming) const override;
};

// First in, first out: the earliest inserted key leaves, however often it is used.
class FifoPolicy final : public EvictionPolicy {
 public:
  std::string_view name() const override { return "fifo"; }
  uint32_t chooseVictim(const CacheSlots& slots, ExpertKey incoming) const override;
};

// Belady's MIN, the offline optimum for demand caching: evict the key whose next use is farthest
// in the future (keys never used again first). It must see exactly the sequence it was built
// with, access by access; a different key at a position is a programming error
// (std::logic_error). The next-use index is built once in O(n); victims cost O(slots).
class BeladyPolicy final : public EvictionPolicy {
 public:
  explicit BeladyPolicy(std::span<const ExpertKey> sequence);
  std::string_view name() const override { return "belady"; }
  uint32_t chooseVictim(const CacheSlots& slots, ExpertKey incoming) const override;

 private:
  static constexpr uint32_t kNever = UINT32_MAX;
  std::vector<ExpertKey> sequence_;
  std::vector<uint32_t> nextUse_;  // position of the next access to sequence_[i], or kNever
};

// The policy names `makePolicy` accepts, in the order reports list them.
inline constexpr std::string_view kPolicyNames[] = {"lifo", "lru", "lfu", "fifo", "belady"};

// A policy by name. `future` is the whole access sequence the cache will see; only "belady"
// uses it. Throws InputError naming the bad name and the allowed ones.
std::unique_ptr<EvictionPolicy> makePolicy(std::string_view name,
                                           std::span<const ExpertKey> future = {});

// What one access did. On a miss in a full cache, `evicted` is true and `evictedKey` says which
// key left `slot` (live runs turn this into collector::CacheEvent Miss and Evict events).
struct CacheAccess {
  bool hit = false;
  bool evicted = false;
  uint32_t slot = 0;
  ExpertKey evictedKey = kNoExpertKey;
};

// A bounded set of slots holding expert keys. Flat per-slot arrays (policies scan them only on a
// miss) and a direct key -> slot index, so a hit costs one load and no access allocates once
// the largest key has been seen.
class ExpertCache {
 public:
  // Throws InputError when capacity is 0.
  ExpertCache(uint32_t capacity, std::unique_ptr<EvictionPolicy> policy);

  // Tells the cache which keys the coming batch uses; LIFO evicts the others first. Keys
  // accessed later are marked active too, so callers that skip this still get correct LIFO
  // (it then degrades to plain last-in-first-out among the keys used so far).
  void beginBatch(std::span<const ExpertKey> activeKeys);

  // Looks `key` up; on a miss inserts it, evicting the policy's victim when full. A key at or
  // above kExpertKeyLimit is a programming error (std::invalid_argument).
  CacheAccess access(ExpertKey key);

  // Brings `key` in ahead of need (a prefetch), evicting the policy's victim when full; counts
  // neither a hit nor a miss, so hit and miss rates stay those of demand accesses. A key already
  // cached is left alone (result.hit). The key starts with no use (LFU evicts unused prefetches
  // first). Belady cannot take insertions: its victims follow the access sequence it was built
  // with (std::logic_error).
  CacheAccess insert(ExpertKey key);

  bool contains(ExpertKey key) const { return findSlot(key) >= 0; }
  uint32_t capacity() const { return capacity_; }
  uint32_t size() const { return size_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  uint64_t evictions() const { return evictions_; }
  uint64_t accesses() const { return hits_ + misses_; }
  const EvictionPolicy& policy() const { return *policy_; }

 private:
  // slotOf_ maps every key seen so far to its slot, or to capacity_ (a spare entry of active_
  // that absorbs writes) when it is not cached: one load per lookup, and beginBatch
  // need not branch on whether a key is cached. It grows (doubling) only when a larger key than
  // ever before appears, so steady state allocates nothing (real key spaces, below 2^20, take at
  // most 4 MiB).
  int32_t findSlot(ExpertKey key) const {
    if (key >= slotOf_.size()) return -1;
    uint32_t slot = slotOf_[key];
    return slot == capacity_ ? -1 : static_cast<int32_t>(slot);
  }
  void growIndex(ExpertKey key);
  CacheSlots view() const;
  void checkKey(ExpertKey key) const;
  // Puts an uncached key into a free slot or the policy's victim's, at position `now`.
  CacheAccess place(ExpertKey key, uint64_t now);

  uint32_t capacity_;
  uint32_t size_ = 0;
  std::unique_ptr<EvictionPolicy> policy_;
  std::vector<ExpertKey> keys_;
  std::vector<uint64_t> insertedAt_;
  std::vector<uint64_t> lastUsedAt_;
  std::vector<uint64_t> useCount_;
  std::vector<uint8_t> active_;  // capacity_ + 1 entries; the last one is the spare
  std::vector<uint32_t> slotOf_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace moeprof::analysis
