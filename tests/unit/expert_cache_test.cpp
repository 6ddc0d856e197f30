#include "analysis/expert_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "collector/errors.h"
#include "tests/support/input_error.h"

namespace moeprof::analysis {
namespace {

using Batches = std::vector<std::vector<ExpertKey>>;

std::vector<ExpertKey> flatten(const Batches& batches) {
  std::vector<ExpertKey> sequence;
  for (const auto& batch : batches) sequence.insert(sequence.end(), batch.begin(), batch.end());
  return sequence;
}

// Misses of `policy` with `capacity` slots, telling the cache each batch's active set first
// unless `declareBatches` is false.
uint64_t missesOf(const std::string& policy, uint32_t capacity, const Batches& batches,
                  bool declareBatches = true) {
  std::vector<ExpertKey> sequence = flatten(batches);
  ExpertCache cache(capacity, makePolicy(policy, sequence));
  for (const auto& batch : batches) {
    if (declareBatches) cache.beginBatch(batch);
    for (ExpertKey key : batch) cache.access(key);
  }
  EXPECT_EQ(cache.accesses(), sequence.size());
  EXPECT_EQ(cache.evictions(), cache.misses() - std::min<uint64_t>(cache.misses(), capacity));
  return cache.misses();
}

// Every batch needs experts 0, 1, 2, 3 in increasing id order (the order experts run in), with
// 3 slots: a cyclic scan one longer than the cache.
const Batches kScanOfFour = {{0, 1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3}};

TEST(ExpertCacheTest, LifoBeatsFifoWhenExpertsRunInIdOrder) {
  // FIFO and LRU always evict the expert needed next: 12 misses of 12.
  EXPECT_EQ(missesOf("fifo", 3, kScanOfFour), 12u);
  EXPECT_EQ(missesOf("lru", 3, kScanOfFour), 12u);
  // LIFO, batch 1: 0 1 2 miss, 3 misses and evicts 2 (latest in; all active) -> {0,1,3}.
  // Batch 2: 0 1 hit, 2 misses evicting 3 -> {0,1,2}, 3 misses evicting 2 -> {0,1,3}.
  // Batch 3 as batch 2. 4 + 2 + 2 = 8.
  EXPECT_EQ(missesOf("lifo", 3, kScanOfFour), 8u);
  // MIN: at 3 evict 2 (next use 6, farthest); at 2 (pos 6) evict 1 (next 9); at 1 (pos 9)
  // evict 0 (never used again). 4 + 1 + 1 = 6.
  EXPECT_EQ(missesOf("belady", 3, kScanOfFour), 6u);
  // In-cache LFU: all counts tie at the miss, so it falls back to LRU: 12.
  EXPECT_EQ(missesOf("lfu", 3, kScanOfFour), 12u);
}

TEST(ExpertCacheTest, LifoEvictsInactiveExpertsFirst) {
  // 2 slots. Batch 1 {0,1}: 2 misses. Batch 2 {1,2}: 1 hits; 2 misses and must evict 0, the
  // only inactive expert, although 1 was inserted later. Batch 3 {1,2}: 2 hits. 3 misses.
  const Batches batches = {{0, 1}, {1, 2}, {1, 2}};
  EXPECT_EQ(missesOf("lifo", 2, batches), 3u);
  // Without active sets every accessed key stays active, so it is plain LIFO: batch 2 evicts 1
  // (latest in) -> {0,2}; batch 3: 1 misses evicting 2, 2 misses evicting 1. 2 + 1 + 2 = 5.
  EXPECT_EQ(missesOf("lifo", 2, batches, /*declareBatches=*/false), 5u);
}

TEST(ExpertCacheTest, AccessReportsTheEvictedKeyAndSlot) {
  ExpertCache cache(2, std::make_unique<LifoPolicy>());
  cache.beginBatch(std::vector<ExpertKey>{7, 9});
  CacheAccess first = cache.access(7);
  EXPECT_FALSE(first.hit);
  EXPECT_FALSE(first.evicted);
  EXPECT_EQ(first.slot, 0u);
  cache.access(9);
  cache.beginBatch(std::vector<ExpertKey>{9, 11});
  EXPECT_TRUE(cache.access(9).hit);
  CacheAccess miss = cache.access(11);
  EXPECT_FALSE(miss.hit);
  EXPECT_TRUE(miss.evicted);
  EXPECT_EQ(miss.evictedKey, 7u);  // inactive, so it goes although 9 came in later
  EXPECT_EQ(miss.slot, 0u);        // and 11 takes its slot
  EXPECT_TRUE(cache.contains(11));
  EXPECT_FALSE(cache.contains(7));
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 3u);
  EXPECT_EQ(cache.evictions(), 1u);
}

TEST(ExpertCacheTest, LruLfuFifoDifferOnHandWorkedSequences) {
  // 2 slots, one batch 0 1 0 2 0. At 2: FIFO evicts 0 (first in) -> the last 0 misses: 4.
  // LRU evicts 1 (used at 1; 0 at 2): 3. LIFO: all active, evicts 1 (latest in): 3.
  // MIN evicts 1 (never used again): 3.
  const Batches a = {{0, 1, 0, 2, 0}};
  EXPECT_EQ(missesOf("fifo", 2, a), 4u);
  EXPECT_EQ(missesOf("lru", 2, a), 3u);
  EXPECT_EQ(missesOf("lifo", 2, a), 3u);
  EXPECT_EQ(missesOf("belady", 2, a), 3u);
  // 2 slots, 0 0 1 2 0. At 2: LRU evicts 0 (used at 1; 1 at 2) -> 0 misses again: 4.
  // LFU evicts 1 (1 use against 2): 3. FIFO evicts 0: 4.
  const Batches b = {{0, 0, 1, 2, 0}};
  EXPECT_EQ(missesOf("lru", 2, b), 4u);
  EXPECT_EQ(missesOf("lfu", 2, b), 3u);
  EXPECT_EQ(missesOf("fifo", 2, b), 4u);
  // LFU ties go to the least recently used: 0 1 1 0 2 1 with 2 slots, counts 0:2 1:2 at 2,
  // 0 used at 3 and 1 at 2, so 1 goes and the final 1 misses: 4 misses (0 1 2 1).
  EXPECT_EQ(missesOf("lfu", 2, {{0, 1, 1, 0, 2, 1}}), 4u);
}

TEST(ExpertCacheTest, InsertPrefetchesWithoutCountingAHitOrMiss) {
  ExpertCache cache(2, makePolicy("lfu"));
  cache.access(1);
  cache.access(1);
  CacheAccess prefetched = cache.insert(2);
  EXPECT_FALSE(prefetched.hit);
  EXPECT_FALSE(prefetched.evicted);
  EXPECT_EQ(cache.accesses(), 2u);
  EXPECT_TRUE(cache.insert(2).hit);  // already there: nothing happens
  EXPECT_TRUE(cache.insert(1).hit);
  EXPECT_EQ(cache.accesses(), 2u);
  // Full: LFU's victim for the next prefetch is the unused prefetched key, not the used one.
  CacheAccess next = cache.insert(3);
  EXPECT_TRUE(next.evicted);
  EXPECT_EQ(next.evictedKey, 2u);
  EXPECT_EQ(next.slot, prefetched.slot);
  EXPECT_EQ(cache.evictions(), 1u);
  // The prefetched key then hits on demand.
  EXPECT_TRUE(cache.access(3).hit);
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(cache.misses(), 1u);
}

TEST(ExpertCacheTest, BeladyCannotTakePrefetches) {
  std::vector<ExpertKey> sequence = {1, 2, 3};
  ExpertCache cache(2, makePolicy("belady", sequence));
  EXPECT_THROW(cache.insert(1), std::logic_error);
}

TEST(ExpertCacheTest, BadPolicyNameAndCapacityAreInputErrors) {
  std::string message = moeprof::testing::inputErrorMessage([] { makePolicy("mru"); });
  EXPECT_NE(message.find("'mru'"), std::string::npos) << message;
  EXPECT_NE(message.find("lifo, lru, lfu, fifo, belady"), std::string::npos) << message;
  message = moeprof::testing::inputErrorMessage(
      [] { ExpertCache cache(0, std::make_unique<LruPolicy>()); });
  EXPECT_NE(message.find("capacity 0"), std::string::npos) << message;
}

TEST(ExpertCacheTest, KeysAtTheLimitAreRejectedAndLargeKeysWork) {
  ExpertCache cache(2, std::make_unique<FifoPolicy>());
  EXPECT_THROW(cache.access(kExpertKeyLimit), std::invalid_argument);
  // A large key grows the key -> slot index; an evicted key must miss when it comes back.
  ExpertKey large = (ExpertKey{1} << 20) + 7;
  EXPECT_FALSE(cache.access(large).hit);
  EXPECT_FALSE(cache.access(3).hit);
  EXPECT_EQ(cache.access(5).evictedKey, large);
  EXPECT_FALSE(cache.access(large).hit);
  EXPECT_TRUE(cache.access(5).hit);
  EXPECT_EQ(cache.misses(), 4u);
}

TEST(ExpertCacheTest, BeladyRejectsASequenceOtherThanItsOwn) {
  std::vector<ExpertKey> sequence = {1, 2, 3};
  ExpertCache cache(1, makePolicy("belady", sequence));
  cache.access(1);
  EXPECT_THROW(cache.access(5), std::logic_error);  // position 1 holds 2, not 5
}

// The fewest misses any eviction choice reaches, trying every choice at every miss.
uint64_t bruteForceMisses(const std::vector<ExpertKey>& sequence, size_t position,
                          std::vector<ExpertKey>& cached, uint32_t capacity) {
  if (position == sequence.size()) return 0;
  ExpertKey key = sequence[position];
  if (std::find(cached.begin(), cached.end(), key) != cached.end()) {
    return bruteForceMisses(sequence, position + 1, cached, capacity);
  }
  if (cached.size() < capacity) {
    cached.push_back(key);
    uint64_t rest = bruteForceMisses(sequence, position + 1, cached, capacity);
    cached.pop_back();
    return 1 + rest;
  }
  uint64_t best = UINT64_MAX;
  for (size_t i = 0; i < cached.size(); ++i) {
    ExpertKey victim = cached[i];
    cached[i] = key;
    best = std::min(best, bruteForceMisses(sequence, position + 1, cached, capacity));
    cached[i] = victim;
  }
  return 1 + best;
}

// Random batches of distinct keys in increasing order, like a replayed routing log.
Batches randomBatches(std::mt19937& random, uint32_t numKeys, size_t maxAccesses) {
  Batches batches;
  size_t total = 0;
  std::uniform_int_distribution<uint32_t> size(1, numKeys);
  while (total < maxAccesses) {
    std::vector<ExpertKey> batch;
    for (uint32_t key = 0; key < numKeys; ++key) batch.push_back(key);
    std::shuffle(batch.begin(), batch.end(), random);
    batch.resize(std::min<size_t>(size(random), maxAccesses - total));
    std::sort(batch.begin(), batch.end());
    total += batch.size();
    batches.push_back(batch);
  }
  return batches;
}

TEST(ExpertCacheTest, BeladyEqualsBruteForceOptimumOnShortSequences) {
  std::mt19937 random(1234);
  int checked = 0;
  for (int round = 0; round < 300; ++round) {
    uint32_t numKeys = 3 + round % 3;   // 3 to 5 keys
    uint32_t capacity = 2 + round % 2;  // 2 or 3 slots
    size_t length = 6 + round % 7;      // 6 to 12 accesses
    Batches batches = randomBatches(random, numKeys, length);
    std::vector<ExpertKey> sequence = flatten(batches);
    std::vector<ExpertKey> cached;
    uint64_t optimum = bruteForceMisses(sequence, 0, cached, capacity);
    ASSERT_EQ(missesOf("belady", capacity, batches), optimum) << "round " << round;
    ++checked;
  }
  EXPECT_EQ(checked, 300);
}

TEST(ExpertCacheTest, NoPolicyMissesLessThanBelady) {
  std::mt19937 random(99);
  uint64_t lifoExcess = 0;
  for (int round = 0; round < 200; ++round) {
    uint32_t numKeys = 8 + round % 9;  // 8 to 16 keys
    Batches batches = randomBatches(random, numKeys, 200);
    for (uint32_t capacity : {2u, 4u, 6u}) {
      uint64_t optimum = missesOf("belady", capacity, batches);
      for (std::string_view policy : kPolicyNames) {
        uint64_t misses = missesOf(std::string(policy), capacity, batches);
        ASSERT_GE(misses, optimum) << policy << " round " << round << " capacity " << capacity;
        if (policy == "lifo") lifoExcess += misses - optimum;
      }
    }
  }
  EXPECT_GT(lifoExcess, 0u);  // the random sequences are hard enough to separate policies
}

}  // namespace
}  // namespace moeprof::analysis
