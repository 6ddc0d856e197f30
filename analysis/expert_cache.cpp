#include "analysis/expert_cache.h"

#include <algorithm>
#include <stdexcept>

#include "collector/errors.h"

namespace moeprof::analysis {

uint32_t LifoPolicy::chooseVictim(const CacheSlots& slots, ExpertKey) const {
  // One pass over (inactive, insertedAt) ordered lexicographically: any inactive slot outranks
  // every active one, and within each group the latest inserted wins.
  uint32_t best = 0;
  uint64_t bestScore = 0;
  for (uint32_t i = 0; i < slots.size; ++i) {
    uint64_t score = (static_cast<uint64_t>(slots.active[i] == 0) << 63) | slots.insertedAt[i];
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}

uint32_t LruPolicy::chooseVictim(const CacheSlots& slots, ExpertKey) const {
  uint32_t best = 0;
  for (uint32_t i = 1; i < slots.size; ++i) {
    if (slots.lastUsedAt[i] < slots.lastUsedAt[best]) best = i;
  }
  return best;
}

uint32_t LfuPolicy::chooseVictim(const CacheSlots& slots, ExpertKey) const {
  uint32_t best = 0;
  for (uint32_t i = 1; i < slots.size; ++i) {
    bool fewer = slots.useCount[i] < slots.useCount[best];
    bool tieOlder =
        slots.useCount[i] == slots.useCount[best] && slots.lastUsedAt[i] < slots.lastUsedAt[best];
    if (fewer || tieOlder) best = i;
  }
  return best;
}

uint32_t FifoPolicy::chooseVictim(const CacheSlots& slots, ExpertKey) const {
  uint32_t best = 0;
  for (uint32_t i = 1; i < slots.size; ++i) {
    if (slots.insertedAt[i] < slots.insertedAt[best]) best = i;
  }
  return best;
}

BeladyPolicy::BeladyPolicy(std::span<const ExpertKey> sequence)
    : sequence_(sequence.begin(), sequence.end()), nextUse_(sequence.size(), kNever) {
  if (sequence.size() >= kNever) {
    throw InputError("belady: access sequence of " + std::to_string(sequence.size()) +
                     " accesses is too long (at most " + std::to_string(kNever - 1) + ")");
  }
  ExpertKey maxKey = 0;
  for (ExpertKey key : sequence) maxKey = std::max(maxKey, key);
  // One backward pass: the last position seen for each key is the next use of the one before.
  std::vector<uint32_t> seen(sequence.empty() ? 0 : size_t{maxKey} + 1, kNever);
  for (size_t i = sequence.size(); i-- > 0;) {
    nextUse_[i] = seen[sequence[i]];
    seen[sequence[i]] = static_cast<uint32_t>(i);
  }
}

uint32_t BeladyPolicy::chooseVictim(const CacheSlots& slots, ExpertKey incoming) const {
  if (slots.now >= sequence_.size() || sequence_[slots.now] != incoming) {
    throw std::logic_error("belady: access " + std::to_string(slots.now) +
                           " differs from the sequence the policy was built with");
  }
  uint32_t best = 0;
  uint32_t bestNext = 0;
  for (uint32_t i = 0; i < slots.size; ++i) {
    // lastUsedAt is the key's latest position in this same sequence, so its next use is known.
    uint32_t next = nextUse_[slots.lastUsedAt[i]];
    if (next == kNever) return i;
    if (next > bestNext) {
      bestNext = next;
      best = i;
    }
  }
  return best;
}

std::unique_ptr<EvictionPolicy> makePolicy(std::string_view name,
                                           std::span<const ExpertKey> future) {
  if (name == "lifo") return std::make_unique<LifoPolicy>();
  if (name == "lru") return std::make_unique<LruPolicy>();
  if (name == "lfu") return std::make_unique<LfuPolicy>();
  if (name == "fifo") return std::make_unique<FifoPolicy>();
  if (name == "belady") return std::make_unique<BeladyPolicy>(future);
  std::string allowed;
  for (std::string_view known : kPolicyNames) {
    allowed += (allowed.empty() ? "" : ", ") + std::string(known);
  }
  throw InputError("unknown cache policy '" + std::string(name) + "' (allowed: " + allowed + ")");
}

ExpertCache::ExpertCache(uint32_t capacity, std::unique_ptr<EvictionPolicy> policy)
    : capacity_(capacity),
      policy_(std::move(policy)),
      keys_(capacity, kNoExpertKey),
      insertedAt_(capacity, 0),
      lastUsedAt_(capacity, 0),
      useCount_(capacity, 0),
      active_(size_t{capacity} + 1, 0) {
  if (capacity == 0) throw InputError("expert cache: capacity 0 (at least 1 slot is needed)");
  if (!policy_) throw std::invalid_argument("expert cache: no eviction policy");
}

void ExpertCache::beginBatch(std::span<const ExpertKey> activeKeys) {
  std::fill(active_.begin(), active_.begin() + size_, uint8_t{0});
  for (ExpertKey key : activeKeys) {
    if (key >= slotOf_.size()) continue;  // never seen, so not cached
    active_[slotOf_[key]] = 1;            // uncached keys write the spare entry
  }
}

CacheSlots ExpertCache::view() const {
  return {size_,          keys_.data(),   insertedAt_.data(), lastUsedAt_.data(), useCount_.data(),
          active_.data(), hits_ + misses_};
}

void ExpertCache::growIndex(ExpertKey key) {
  size_t size = std::max<size_t>(size_t{key} + 1, 2 * slotOf_.size());
  slotOf_.resize(size, capacity_);
}

void ExpertCache::checkKey(ExpertKey key) const {
  if (key >= kExpertKeyLimit) {
    throw std::invalid_argument("expert cache: key " + std::to_string(key) + " at or above " +
                                std::to_string(kExpertKeyLimit));
  }
}

CacheAccess ExpertCache::access(ExpertKey key) {
  checkKey(key);
  const uint64_t now = hits_ + misses_;
  int32_t found = findSlot(key);
  if (found < 0) {
    CacheAccess result = place(key, now);  // the policy sees `now` before the miss is counted
    ++misses_;
    return result;
  }
  ++hits_;
  lastUsedAt_[found] = now;
  ++useCount_[found];
  active_[found] = 1;
  return {.hit = true, .slot = static_cast<uint32_t>(found)};
}

CacheAccess ExpertCache::insert(ExpertKey key) {
  checkKey(key);
  if (policy_->name() == "belady") {
    throw std::logic_error("expert cache: Belady's MIN cannot take prefetch insertions");
  }
  int32_t found = findSlot(key);
  if (found >= 0) return {.hit = true, .slot = static_cast<uint32_t>(found)};
  CacheAccess result = place(key, hits_ + misses_);
  useCount_[result.slot] = 0;
  return result;
}

CacheAccess ExpertCache::place(ExpertKey key, uint64_t now) {
  CacheAccess result;
  uint32_t slot = size_;
  if (size_ == capacity_) {
    slot = policy_->chooseVictim(view(), key);
    result.evicted = true;
    result.evictedKey = keys_[slot];
    slotOf_[keys_[slot]] = capacity_;
    ++evictions_;
  } else {
    ++size_;
  }
  if (key >= slotOf_.size()) growIndex(key);
  slotOf_[key] = slot;
  keys_[slot] = key;
  insertedAt_[slot] = now;
  lastUsedAt_[slot] = now;
  useCount_[slot] = 1;
  active_[slot] = 1;
  result.slot = slot;
  return result;
}

}  // namespace moeprof::analysis
