#pragma once
// The inside of ExpertStore (workloads/buffering/expert_store.h), shared by its two source files:
// the store's logic and I/O threads (expert_store.cpp) and its metrics (expert_store_metrics.cpp).
// Not for other code.
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include <ATen/ATen.h>

#include "collector/trace_events.h"
#include "workloads/buffering/expert_store.h"
#include "workloads/buffering/expert_tier.h"

namespace moeprof::workloads {

namespace store_detail {

// What the store counts over the measured batches.
struct StoreCounters {
  uint64_t hits = 0, misses = 0, evictions = 0;
  uint64_t demandLoads = 0, prefetchLoads = 0, cancelledLoads = 0;
  uint64_t readAheadLoads = 0;  // demand loads whose record came through a read-ahead buffer
  uint64_t usefulPrefetches = 0, wastedPrefetches = 0;
  int64_t bytesMoved = 0, stallNs = 0, leadNs = 0;
  uint64_t predicted = 0, actual = 0, truePositives = 0;  // prefetch predictions vs the truth
};

// A slot's contents and the loads that fill it. Tickets are global and increasing; a slot is
// ready when its latest issued load has completed (older queued loads into it are skipped).
struct Slot {
  kernels::ExpertView view;
  uint64_t issuedTicket = 0;
  uint64_t loadedTicket = 0;
  bool prefetchedUnused = false;  // brought in by a prefetch and not used since
  bool prefetchCounted = false;   // that prefetch was issued in a measured batch
  int64_t prefetchIssuedNs = 0;
  bool reading = false;  // an I/O thread is writing into it
};

struct Cache {
  analysis::ExpertCache cache;
  TierMemory memory;  // the slots, on the tier's fast side
  std::vector<Slot> slots;
};

// One load into a slot, or, with `readAhead` >= 0, the read of a slot's next expert into that
// read-ahead buffer. Demand loads and read-aheads are served before prefetches.
struct LoadJob {
  uint32_t cache = 0, slot = 0, layer = 0, expert = 0;
  uint64_t ticket = 0, transferId = 0;
  int64_t submittedNs = 0;
  int32_t readAhead = -1;
  bool prefetch = false;
  bool counted = false;  // issued in a measured batch
};

// A needed expert of the current call: its slot, and the earlier expert of the same call whose
// slot it takes (its load waits until that one has run), or -1. Such a load is `deferred`; its
// record may meanwhile be read into read-ahead buffer `readAhead`.
struct Use {
  uint32_t expert = 0;
  uint32_t slot = 0;
  int32_t blockedBy = -1;
  int32_t readAhead = -1;
  std::optional<LoadJob> deferred;
};

// A buffer outside the slots that a deferred load's record is read into while the expert that
// holds its slot has still to run; copied into the slot once it has (memory to memory, not a
// transfer from the slow tier). Whichever comes second, the read or the release of the slot,
// makes the copy. Without these, a policy that keeps refilling one slot within a call (LIFO once
// every cached expert is active) serializes the call's misses: read, compute, read, compute.
struct ReadAheadBuffer {
  std::byte* data = nullptr;
  bool claimed = false;
  bool read = false;
  bool released = false;  // the slot is free; its load's ticket and place follow
  uint32_t cache = 0, slot = 0;
  uint64_t ticket = 0;
};

// How busy the slow tier was over the measured reads: the union of their [start, end) intervals
// (reads in flight together count once) and, to see whether the depth was used, the time spent
// with exactly k reads in flight.
struct ReadStats {
  uint64_t reads = 0;     // requests (one preadv each, of one or more adjacent records)
  int64_t readBytes = 0;  // what they read
  int64_t readNs = 0;     // the sum of their durations
  int64_t queuedNs = 0;   // from submission to the start of the read, summed over loads
  uint64_t queuedLoads = 0;
  std::vector<int64_t> nsByReadsInFlight;  // [k]: ns with k reads in flight, k >= 1
  int64_t unionNs() const {
    int64_t total = 0;
    for (size_t k = 1; k < nsByReadsInFlight.size(); ++k) total += nsByReadsInFlight[k];
    return total;
  }
};

// The slow tier's peak sampled around the measured batches rather than once before the run: a
// shared or virtual disk's speed drifts within minutes, so each batch's transfers are judged
// against the tier as it was just before and just after that batch. A sample is taken before the
// first measured batch, between each two and after the last.
struct PeakSamples {
  std::vector<double> bytesPerSecond;  // each sample's median, in order
  // Per measured batch (between samples b and b + 1): bytes moved and transfer time (union).
  std::vector<std::pair<int64_t, int64_t>> batches;
  int64_t bytesMovedBefore = 0, transferNsBefore = 0;  // the totals at the last sample
  bool finished = false;                               // the sample after the last batch is in
  // Bytes moved over what the tier could have moved in the same transfer time at the mean of
  // the samples around each batch; 0 before the run is finished.
  double pairedEfficiency() const;
  double spread() const;  // largest sample over smallest; 0 without samples
};

// The bytes the tier could have moved in the time of `stats` at the depths the reads had:
// sum over k of the time with k reads in flight times the tier's bandwidth at depth k, from
// `byDepth` (ascending depths; linear between them, the deepest beyond).
double bytesAtOfferedDepth(const ReadStats& stats, const std::vector<TierBandwidth>& byDepth);

// Adds `intervals` to `stats` with a sweep over their ends, then clears them.
void foldIntervals(std::vector<std::pair<int64_t, int64_t>>& intervals, ReadStats& stats);

}  // namespace store_detail

struct ExpertStore::State {
  BufferingConfig config;
  ExpertFile file;
  std::unique_ptr<ExpertTier> tier;  // over `file`: moves its records into the slots
  StoreModel model;
  std::vector<LayerCall> calls;
  std::vector<store_detail::Cache> caches;
  TierMemory readAheadMemory;  // empty without read-ahead buffers
  std::vector<store_detail::ReadAheadBuffer>
      readAhead;  // shared with the I/O threads, under the mutex
  uint32_t numExperts = 0;
  FenceNumbering fences;  // of every slot and read-ahead buffer

  // The current call.
  uint32_t layer = 0;
  size_t callIndex = 0;
  std::vector<store_detail::Use> uses;
  size_t cursor = 0;
  size_t nextToReadAhead = 0;  // the first use that may still get a read-ahead buffer
  at::Tensor input;
  int64_t batch = 0;
  bool measuring = false;
  collector::TraceSink* trace = nullptr;
  // Per MoE layer: the experts the last prefetch for it predicted (sorted), if any.
  std::vector<std::optional<std::vector<uint32_t>>> predictions;

  store_detail::StoreCounters counters;
  uint64_t nextTicket = 1, nextTransferId = 1;

  // Shared with the I/O thread.
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<store_detail::LoadJob> demand, prefetches;
  std::vector<collector::TransferEvent> finished;
  std::exception_ptr ioError;
  bool stopping = false;
  uint32_t readsInFlight = 0;
  bool ioThreadsPreempt = true;  // every I/O thread got SCHED_FIFO
  // When measured reads ran, [start, end) ns, until folded into readStats.
  std::vector<std::pair<int64_t, int64_t>> readIntervals;
  store_detail::ReadStats readStats;
  std::vector<std::thread> io;
  // The slow tier's read bandwidth at the same depth: random expert records (what misses read,
  // the peak transfers are judged against; all of peakSamples' trials) and large sequential
  // reads (the tier at its best, probed once at the start).
  TierBandwidth peak, largeReadPeak;
  store_detail::PeakSamples peakSamples;
  // The same random-record probe at fewer reads in flight (1, 2, 4, ... below io-depth; the last
  // entry is `peak`), sampled with it: what the tier gives at the depths a run offers it.
  std::vector<TierBandwidth> peakByDepth;

  State(const BufferingConfig& c, ExpertFile f, const ExpertTierFactory& makeTier, StoreModel m,
        std::vector<LayerCall> future);
  ~State();

  uint32_t cacheIndex(uint32_t moeLayer) const {
    return config.scope == analysis::CacheScope::Layer ? moeLayer : 0;
  }
  analysis::ExpertKey key(uint32_t moeLayer, uint32_t expert) const {
    return config.scope == analysis::CacheScope::Layer
               ? expert
               : analysis::expertKey(moeLayer, expert, numExperts);
  }
  uint32_t layerOfKey(uint32_t cache, analysis::ExpertKey k) const {
    return config.scope == analysis::CacheScope::Layer ? cache : k / numExperts;
  }
  std::vector<analysis::ExpertKey> keys(uint32_t moeLayer,
                                        const std::vector<uint32_t>& experts) const;
  void buildCaches();
  std::vector<analysis::ExpertKey> futureKeys(uint32_t cache) const;

  void ioLoop();
  std::vector<store_detail::LoadJob> takeReads();
  void markReading(const std::vector<store_detail::LoadJob>& jobs, bool reading);
  void runJobs(TierLane& lane, const std::vector<store_detail::LoadJob>& jobs);
  nlohmann::json slowTierJson() const;
  void submit(store_detail::LoadJob job);
  void submit(std::vector<store_detail::LoadJob>& jobs);  // under one lock; assigns their tickets
  store_detail::LoadJob newJob(uint32_t cache, uint32_t slot, uint32_t moeLayer, uint32_t expert,
                               bool prefetch);
  void waitReady(uint32_t cache, uint32_t slot);
  void waitIdle();
  void drainTransfers();
  void samplePeak();  // with no read in flight; see PeakSamples

  void record(collector::CacheAction action, uint32_t moeLayer, uint32_t expert, int32_t slot,
              uint64_t transferId = 0);
  void noteEviction(uint32_t cache, const analysis::CacheAccess& access);
  void demandAccesses(const std::vector<uint32_t>& experts);
  void releaseDeferred(size_t upTo);
  void readAheadDeferred();
  void releaseReadAhead(store_detail::Use& use);
  void copyReadAhead(uint32_t buffer);
  void checkAgainstRecording(const std::vector<uint32_t>& experts);
  void scorePrediction(const std::vector<uint32_t>& experts);

  std::optional<std::pair<uint32_t, std::vector<uint32_t>>> predictNext() const;
  void prefetch();
  bool prefetchAtBegin() const;
};

}  // namespace moeprof::workloads
