#include "analysis/expert_cache.h"

#include <algorithm>
#include <stdexcept>

#include "collector/errors.h"

namespace moeprof::analysis {

namespace {

// The slot with the largest insertedAt among those `eligible` accepts, or -1 when none is.
template <typename Eligible>
int32_t latestInserted(const CacheSlots& slots, Eligible eligible) {
  int32_t best = -1;
  for (uint32_t i = 0; i < slots.size; ++i) {
    if (!eligible(i)) continue;
    if (best < 0 || slots.insertedAt[i] > slots.insertedAt[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

}  // namespace

uint32_t LifoPolicy::chooseVictim(const CacheSlots& slots, ExpertKey) const {
  int32_t inactive = latestInserted(slots, [&](uint32_t i) { return slots.active[i] == 0; });
  if (inactive >= 0) return static_cast<uint32_t>(inactive);
  return static_cast<uint32_t>(latestInserted(slots, [](uint32_t) { return true; }));
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
      active_(capacity, 0) {
  if (capacity == 0) throw InputError("expert cache: capacity 0 (at least 1 slot is needed)");
  if (!policy_) throw std::invalid_argument("expert cache: no eviction policy");
}

void ExpertCache::beginBatch(std::span<const ExpertKey> activeKeys) {
  std::fill(active_.begin(), active_.begin() + size_, uint8_t{0});
  for (ExpertKey key : activeKeys) {
    int32_t slot = findSlot(key);
    if (slot >= 0) active_[slot] = 1;
  }
}

CacheSlots ExpertCache::view() const {
  return {size_,          keys_.data(),   insertedAt_.data(), lastUsedAt_.data(), useCount_.data(),
          active_.data(), hits_ + misses_};
}

CacheAccess ExpertCache::access(ExpertKey key) {
  const uint64_t now = hits_ + misses_;
  CacheAccess result;
  int32_t found = findSlot(key);
  if (found >= 0) {
    ++hits_;
    lastUsedAt_[found] = now;
    ++useCount_[found];
    active_[found] = 1;
    result.hit = true;
    result.slot = static_cast<uint32_t>(found);
    return result;
  }
  uint32_t slot = size_;
  if (size_ == capacity_) {
    slot = policy_->chooseVictim(view(), key);
    result.evicted = true;
    result.evictedKey = keys_[slot];
    ++evictions_;
  } else {
    ++size_;
  }
  ++misses_;
  keys_[slot] = key;
  insertedAt_[slot] = now;
  lastUsedAt_[slot] = now;
  useCount_[slot] = 1;
  active_[slot] = 1;
  result.slot = slot;
  return result;
}

}  // namespace moeprof::analysis
