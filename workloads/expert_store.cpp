#include "workloads/expert_store.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include <pthread.h>
#include <sched.h>

#include <ATen/ATen.h>

#include "collector/errors.h"
#include "collector/trace_events.h"
#include "collector/trace_sink.h"

namespace moeprof::workloads {

using analysis::CacheAccess;
using analysis::ExpertKey;
using collector::CacheAction;
using collector::traceClockNs;

void LayerCallRecorder::beginLayer(int64_t moeLayer, const std::vector<int64_t>& experts,
                                   const at::Tensor&) {
  layer_ = static_cast<uint32_t>(moeLayer);
  calls_.push_back({layer_, std::vector<uint32_t>(experts.begin(), experts.end())});
}

kernels::ExpertView LayerCallRecorder::expert(int64_t expert) {
  return layers_.at(layer_)->expert(expert);
}

namespace {

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
  AlignedBuffer memory;
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

// Adds `intervals` to `stats` with a sweep over their ends, then clears them.
void foldIntervals(std::vector<std::pair<int64_t, int64_t>>& intervals, ReadStats& stats) {
  std::vector<std::pair<int64_t, int>> edges;
  edges.reserve(2 * intervals.size());
  for (const auto& [start, end] : intervals) {
    edges.emplace_back(start, +1);
    edges.emplace_back(end, -1);
    stats.readNs += end - start;
  }
  std::sort(edges.begin(), edges.end());  // at equal times ends (-1) come first
  size_t inFlight = 0;
  for (size_t i = 0; i < edges.size(); ++i) {
    if (i > 0 && inFlight > 0) {
      if (stats.nsByReadsInFlight.size() <= inFlight) stats.nsByReadsInFlight.resize(inFlight + 1);
      stats.nsByReadsInFlight[inFlight] += edges[i].first - edges[i - 1].first;
    }
    inFlight = static_cast<size_t>(static_cast<int64_t>(inFlight) + edges[i].second);
  }
  intervals.clear();
}

}  // namespace

struct ExpertStore::State {
  BufferingConfig config;
  ExpertFile file;
  StoreModel model;
  std::vector<LayerCall> calls;
  std::vector<Cache> caches;
  std::optional<AlignedBuffer> readAheadMemory;  // none without read-ahead buffers
  std::vector<ReadAheadBuffer> readAhead;        // shared with the I/O threads, under the mutex
  uint32_t numExperts = 0;

  // The current call.
  uint32_t layer = 0;
  size_t callIndex = 0;
  std::vector<Use> uses;
  size_t cursor = 0;
  size_t nextToReadAhead = 0;  // the first use that may still get a read-ahead buffer
  at::Tensor input;
  int64_t batch = 0;
  bool measuring = false;
  collector::TraceSink* trace = nullptr;
  // Per MoE layer: the experts the last prefetch for it predicted (sorted), if any.
  std::vector<std::optional<std::vector<uint32_t>>> predictions;

  StoreCounters counters;
  uint64_t nextTicket = 1, nextTransferId = 1;

  // Shared with the I/O thread.
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<LoadJob> demand, prefetches;
  std::vector<collector::TransferEvent> finished;
  std::exception_ptr ioError;
  bool stopping = false;
  uint32_t readsInFlight = 0;
  bool ioThreadsPreempt = true;  // every I/O thread got SCHED_FIFO
  // When measured reads ran, [start, end) ns, until folded into readStats.
  std::vector<std::pair<int64_t, int64_t>> readIntervals;
  ReadStats readStats;
  std::vector<std::thread> io;
  // The slow tier's read bandwidth at the same depth: random expert records (what misses read,
  // the peak transfers are judged against) and large sequential reads (the tier at its best).
  TierBandwidth peak, largeReadPeak;

  State(const BufferingConfig& c, ExpertFile f, StoreModel m, std::vector<LayerCall> future);
  ~State();

  uint32_t cacheIndex(uint32_t moeLayer) const {
    return config.scope == analysis::CacheScope::Layer ? moeLayer : 0;
  }
  ExpertKey key(uint32_t moeLayer, uint32_t expert) const {
    return config.scope == analysis::CacheScope::Layer
               ? expert
               : analysis::expertKey(moeLayer, expert, numExperts);
  }
  uint32_t layerOfKey(uint32_t cache, ExpertKey k) const {
    return config.scope == analysis::CacheScope::Layer ? cache : k / numExperts;
  }
  std::vector<ExpertKey> keys(uint32_t moeLayer, const std::vector<uint32_t>& experts) const;
  void buildCaches();
  std::vector<ExpertKey> futureKeys(uint32_t cache) const;

  void ioLoop();
  std::vector<LoadJob> takeReads();
  void markReading(const std::vector<LoadJob>& jobs, bool reading);
  void runJobs(const std::vector<LoadJob>& jobs);
  void submit(LoadJob job);
  void submit(std::vector<LoadJob>& jobs);  // under one lock; assigns their tickets
  LoadJob newJob(uint32_t cache, uint32_t slot, uint32_t moeLayer, uint32_t expert, bool prefetch);
  void waitReady(uint32_t cache, uint32_t slot);
  void waitIdle();
  void drainTransfers();

  void record(CacheAction action, uint32_t moeLayer, uint32_t expert, int32_t slot,
              uint64_t transferId = 0);
  void noteEviction(uint32_t cache, const CacheAccess& access);
  void demandAccesses(const std::vector<uint32_t>& experts);
  void releaseDeferred(size_t upTo);
  void readAheadDeferred();
  void releaseReadAhead(Use& use);
  void copyReadAhead(uint32_t buffer);
  void checkAgainstRecording(const std::vector<uint32_t>& experts);
  void scorePrediction(const std::vector<uint32_t>& experts);

  std::optional<std::pair<uint32_t, std::vector<uint32_t>>> predictNext() const;
  void prefetch();
  bool prefetchAtBegin() const;
};

ExpertStore::State::State(const BufferingConfig& c, ExpertFile f, StoreModel m,
                          std::vector<LayerCall> future)
    : config(c),
      file(std::move(f)),
      model(std::move(m)),
      calls(std::move(future)),
      numExperts(file.numExperts()),
      predictions(file.numLayers()) {
  buildCaches();
  if (config.readAheadBuffers > 0) {
    const int64_t recordBytes = file.layout().recordBytes;
    readAheadMemory.emplace(int64_t{config.readAheadBuffers} * recordBytes);
    for (uint32_t b = 0; b < config.readAheadBuffers; ++b) {
      readAhead.push_back({readAheadMemory->data + b * recordBytes});
    }
  }
  constexpr int64_t kProbeBytesPerTrial = int64_t{64} << 20;
  constexpr int kProbeTrials = 5;
  peak = file.measureBandwidth(kProbeBytesPerTrial, config.ioDepth, kProbeTrials,
                               ProbePattern::RandomRecords);
  largeReadPeak = file.measureBandwidth(kProbeBytesPerTrial, config.ioDepth, kProbeTrials,
                                        ProbePattern::LargeSequential);
  for (uint32_t t = 0; t < config.ioDepth; ++t) io.emplace_back([this] { ioLoop(); });
}

ExpertStore::State::~State() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  changed.notify_all();
  for (auto& thread : io) thread.join();
}

std::vector<ExpertKey> ExpertStore::State::keys(uint32_t moeLayer,
                                                const std::vector<uint32_t>& experts) const {
  std::vector<ExpertKey> out;
  out.reserve(experts.size());
  for (uint32_t e : experts) out.push_back(key(moeLayer, e));
  return out;
}

std::vector<ExpertKey> ExpertStore::State::futureKeys(uint32_t cache) const {
  std::vector<ExpertKey> sequence;
  for (const auto& call : calls) {
    if (cacheIndex(call.moeLayer) != cache) continue;
    for (uint32_t e : call.experts) sequence.push_back(key(call.moeLayer, e));
  }
  return sequence;
}

void ExpertStore::State::buildCaches() {
  const bool perLayer = config.scope == analysis::CacheScope::Layer;
  const uint32_t count = perLayer ? file.numLayers() : 1;
  const uint32_t capacity = config.slotsPerLayer * (perLayer ? 1 : file.numLayers());
  const auto& layout = file.layout();
  caches.reserve(count);
  for (uint32_t c = 0; c < count; ++c) {
    auto future = config.policy == "belady" ? futureKeys(c) : std::vector<ExpertKey>{};
    Cache cache{analysis::ExpertCache(capacity, analysis::makePolicy(config.policy, future)),
                AlignedBuffer(capacity * layout.recordBytes),
                {}};
    for (uint32_t s = 0; s < capacity; ++s) {
      cache.slots.push_back({layout.view(cache.memory.data + s * layout.recordBytes)});
    }
    caches.push_back(std::move(cache));
  }
}

// ---- I/O thread -------------------------------------------------------------------------

// Each of the config.ioDepth I/O threads runs this loop, so that many reads are in flight.
void ExpertStore::State::ioLoop() {
  // An I/O thread that waits for a CPU after its read completed stretches the read and starts the
  // next one late; compute threads (OpenMP workers spin after each parallel region) keep every
  // core busy on small machines. Where allowed, the I/O threads preempt them: they only block.
  sched_param realtime{};
  realtime.sched_priority = 1;
  const bool preempts = pthread_setschedparam(pthread_self(), SCHED_FIFO, &realtime) == 0;
  std::unique_lock lock(mutex);
  if (!preempts) ioThreadsPreempt = false;
  for (;;) {
    std::vector<LoadJob> jobs;
    changed.wait(lock, [&] { return stopping || !(jobs = takeReads()).empty(); });
    if (stopping) return;
    markReading(jobs, true);
    lock.unlock();
    try {
      runJobs(jobs);
    } catch (...) {
      std::lock_guard errorLock(mutex);
      ioError = std::current_exception();
    }
    lock.lock();
    markReading(jobs, false);
    changed.notify_all();
  }
}

// Under the lock: the next loads to run, demand before prefetch, skipping loads a newer one into
// the same slot replaced and slots another thread is still filling. The loads of the following
// experts of the same layer join it (their records are adjacent in the file): one larger read.
std::vector<LoadJob> ExpertStore::State::takeReads() {
  constexpr size_t kMaxAdjacentReads = 8;
  auto slotOf = [&](const LoadJob& job) -> Slot& { return caches[job.cache].slots[job.slot]; };
  for (auto* queue : {&demand, &prefetches}) {
    std::erase_if(*queue, [&](const LoadJob& job) {
      bool replaced = job.readAhead < 0 && slotOf(job).issuedTicket != job.ticket;
      if (replaced && job.counted) ++counters.cancelledLoads;
      return replaced;
    });
    auto free = [&](const LoadJob& job) { return job.readAhead >= 0 || !slotOf(job).reading; };
    auto first = std::find_if(queue->begin(), queue->end(), free);
    if (first == queue->end()) continue;
    std::vector<LoadJob> jobs{*first};
    queue->erase(first);
    // Joining every adjacent load into one read would leave the other I/O threads idle: share
    // the queue out so that all config.ioDepth of them have a read in flight.
    const size_t share = std::clamp<size_t>(
        (queue->size() + 1 + config.ioDepth - 1) / config.ioDepth, 1, kMaxAdjacentReads);
    while (jobs.size() < share) {
      auto next = std::find_if(queue->begin(), queue->end(), [&](const LoadJob& job) {
        return free(job) && job.layer == jobs.back().layer && job.expert == jobs.back().expert + 1;
      });
      if (next == queue->end()) break;
      jobs.push_back(*next);
      queue->erase(next);
    }
    return jobs;
  }
  return {};
}

// Under the lock: the slots being filled.
void ExpertStore::State::markReading(const std::vector<LoadJob>& jobs, bool reading) {
  for (const auto& job : jobs) {
    if (job.readAhead < 0) caches[job.cache].slots[job.slot].reading = reading;
  }
  if (reading) {
    ++readsInFlight;
  } else {
    --readsInFlight;
  }
}

void ExpertStore::State::runJobs(const std::vector<LoadJob>& jobs) {
  const int64_t recordBytes = file.layout().recordBytes;
  std::vector<std::byte*> destinations;
  for (const auto& job : jobs) {
    destinations.push_back(job.readAhead >= 0
                               ? readAhead[job.readAhead].data
                               : caches[job.cache].memory.data + job.slot * recordBytes);
  }
  collector::TransferEvent event;
  event.startNs = traceClockNs();
  file.readAdjacent(jobs.front().layer, jobs.front().expert, destinations);
  event.endNs = traceClockNs();
  event.threadId = collector::traceThreadId();
  event.bytes = recordBytes;
  event.source = collector::MemoryTier::Disk;
  event.destination = collector::MemoryTier::Host;
  std::vector<uint32_t> toCopy;  // read-aheads whose slots are free already
  std::unique_lock lock(mutex);
  if (std::any_of(jobs.begin(), jobs.end(), [](const LoadJob& j) { return j.counted; })) {
    readIntervals.emplace_back(event.startNs, event.endNs);
    ++readStats.reads;
    readStats.readBytes += recordBytes * static_cast<int64_t>(jobs.size());
    // Bounds the memory of long runs; reads still in flight across a fold may count their
    // overlap twice (at most io-depth reads, once per 65536).
    constexpr size_t kFoldAbove = size_t{1} << 16;
    if (readIntervals.size() > kFoldAbove) foldIntervals(readIntervals, readStats);
  }
  for (const auto& job : jobs) {
    if (job.readAhead < 0) {
      caches[job.cache].slots[job.slot].loadedTicket = job.ticket;
    } else {
      readAhead[job.readAhead].read = true;
      if (readAhead[job.readAhead].released) toCopy.push_back(job.readAhead);
    }
    if (job.counted) {
      counters.bytesMoved += recordBytes;
      readStats.queuedNs += event.startNs - job.submittedNs;
      ++readStats.queuedLoads;
    }
    if (!trace) continue;
    event.transferId = job.transferId;
    event.moeLayer = job.layer;
    event.expert = job.expert;
    event.prefetch = job.prefetch;
    finished.push_back(event);
  }
  lock.unlock();
  for (uint32_t buffer : toCopy) copyReadAhead(buffer);
}

// Copies a read-ahead buffer whose record has arrived into its slot, which is free (the expert
// that held it has run, and no read into it is in flight), and frees the buffer.
void ExpertStore::State::copyReadAhead(uint32_t buffer) {
  std::unique_lock lock(mutex);
  ReadAheadBuffer& b = readAhead[buffer];
  Slot& slot = caches[b.cache].slots[b.slot];
  std::byte* target = caches[b.cache].memory.data + b.slot * file.layout().recordBytes;
  const uint64_t ticket = b.ticket;
  lock.unlock();
  std::memcpy(target, b.data, static_cast<size_t>(file.layout().recordBytes));
  lock.lock();
  slot.loadedTicket = ticket;
  b = ReadAheadBuffer{b.data};
  lock.unlock();
  changed.notify_all();
}

LoadJob ExpertStore::State::newJob(uint32_t cache, uint32_t slot, uint32_t moeLayer,
                                   uint32_t expert, bool prefetch) {
  LoadJob job;
  job.cache = cache;
  job.slot = slot;
  job.layer = moeLayer;
  job.expert = expert;
  job.transferId = nextTransferId++;
  job.prefetch = prefetch;
  job.counted = measuring;
  return job;
}

void ExpertStore::State::submit(std::vector<LoadJob>& jobs) {
  if (jobs.empty()) return;
  {
    std::lock_guard lock(mutex);
    for (LoadJob& job : jobs) {
      job.ticket = nextTicket++;
      job.submittedNs = traceClockNs();
      caches[job.cache].slots[job.slot].issuedTicket = job.ticket;
      (job.prefetch ? prefetches : demand).push_back(job);
    }
  }
  changed.notify_all();
  if (!measuring) return;
  for (const LoadJob& job : jobs) ++(job.prefetch ? counters.prefetchLoads : counters.demandLoads);
}

void ExpertStore::State::submit(LoadJob job) {
  std::vector<LoadJob> one{job};
  submit(one);
}

void ExpertStore::State::waitReady(uint32_t cache, uint32_t slot) {
  std::unique_lock lock(mutex);
  const Slot& s = caches[cache].slots[slot];
  auto ready = [&] { return ioError || s.loadedTicket == s.issuedTicket; };
  if (ready()) {
    if (ioError) std::rethrow_exception(ioError);
    return;
  }
  int64_t start = traceClockNs();
  changed.wait(lock, ready);
  if (measuring) counters.stallNs += traceClockNs() - start;
  if (ioError) std::rethrow_exception(ioError);
}

void ExpertStore::State::waitIdle() {
  std::unique_lock lock(mutex);
  changed.wait(lock,
               [&] { return ioError || (demand.empty() && prefetches.empty() && !readsInFlight); });
}

void ExpertStore::State::drainTransfers() {
  std::vector<collector::TransferEvent> done;
  {
    std::lock_guard lock(mutex);
    done.swap(finished);
  }
  if (trace) {
    for (const auto& event : done) trace->append(event);
  }
}

// ---- Demand accesses --------------------------------------------------------------------

void ExpertStore::State::record(CacheAction action, uint32_t moeLayer, uint32_t expert,
                                int32_t slot, uint64_t transferId) {
  if (!trace) return;
  trace->append(collector::CacheEvent{traceClockNs(),
                                      static_cast<uint32_t>(std::max<int64_t>(batch, 0)), moeLayer,
                                      expert, slot, action, transferId});
}

void ExpertStore::State::noteEviction(uint32_t cache, const CacheAccess& access) {
  if (!access.evicted) return;
  Slot& slot = caches[cache].slots[access.slot];
  if (measuring) ++counters.evictions;
  if (slot.prefetchedUnused && slot.prefetchCounted) ++counters.wastedPrefetches;
  slot.prefetchedUnused = false;
  uint32_t evictedLayer = layerOfKey(cache, access.evictedKey);
  record(CacheAction::Evict, evictedLayer, access.evictedKey % numExperts,
         static_cast<int32_t>(access.slot));
}

// Looks every needed expert up in order (the order replay uses), starting loads for misses at
// once unless the slot still holds an expert of this call that has not run yet.
void ExpertStore::State::demandAccesses(const std::vector<uint32_t>& experts) {
  const uint32_t c = cacheIndex(layer);
  Cache& cache = caches[c];
  cache.cache.beginBatch(keys(layer, experts));
  std::vector<int32_t> userOfSlot(cache.slots.size(), -1);
  std::vector<LoadJob> loads;
  uses.clear();
  cursor = 0;
  nextToReadAhead = 0;
  for (uint32_t expert : experts) {
    CacheAccess access = cache.cache.access(key(layer, expert));
    Slot& slot = cache.slots[access.slot];
    Use use{expert, access.slot, -1, -1, std::nullopt};
    if (access.hit) {
      if (measuring) ++counters.hits;
      if (slot.prefetchedUnused && slot.prefetchCounted) {
        ++counters.usefulPrefetches;
        counters.leadNs += traceClockNs() - slot.prefetchIssuedNs;
      }
      slot.prefetchedUnused = false;
      record(CacheAction::Hit, layer, expert, static_cast<int32_t>(access.slot));
    } else {
      if (measuring) ++counters.misses;
      noteEviction(c, access);
      LoadJob job = newJob(c, access.slot, layer, expert, /*prefetch=*/false);
      record(CacheAction::Miss, layer, expert, static_cast<int32_t>(access.slot), job.transferId);
      use.blockedBy = userOfSlot[access.slot];
      if (use.blockedBy >= 0) {
        use.deferred = job;
      } else {
        loads.push_back(job);
      }
    }
    userOfSlot[access.slot] = static_cast<int32_t>(uses.size());
    uses.push_back(std::move(use));
  }
  submit(loads);  // together, so that the I/O threads see adjacent records side by side
  readAheadDeferred();
}

// Starts the loads that waited for experts before `upTo` to run (they have: CPU experts run
// synchronously, one after the other).
void ExpertStore::State::releaseDeferred(size_t upTo) {
  for (size_t i = upTo; i < uses.size(); ++i) {
    Use& use = uses[i];
    if (use.deferred && use.blockedBy < static_cast<int32_t>(upTo)) {
      if (use.readAhead >= 0) {
        releaseReadAhead(use);
      } else {
        submit(*use.deferred);
      }
      use.deferred.reset();
    }
  }
}

// Gives free read-ahead buffers to the next deferred loads of the call, in the order they are
// needed, and queues their reads behind the demand loads.
void ExpertStore::State::readAheadDeferred() {
  if (readAhead.empty()) return;
  bool queued = false;
  {
    std::lock_guard lock(mutex);
    auto free = readAhead.begin();
    for (; nextToReadAhead < uses.size(); ++nextToReadAhead) {
      Use& use = uses[nextToReadAhead];
      if (!use.deferred || use.readAhead >= 0) continue;
      free = std::find_if(free, readAhead.end(), [](const auto& b) { return !b.claimed; });
      if (free == readAhead.end()) break;
      free->claimed = true;
      use.readAhead = static_cast<int32_t>(free - readAhead.begin());
      LoadJob job = *use.deferred;
      job.readAhead = use.readAhead;
      job.submittedNs = traceClockNs();
      demand.push_back(job);
      queued = true;
    }
  }
  if (queued) changed.notify_all();
}

// The slot of a deferred load with a read-ahead is free: the load takes its ticket now, and its
// record moves from the buffer into the slot now if it has arrived, else when it does.
void ExpertStore::State::releaseReadAhead(Use& use) {
  std::unique_lock lock(mutex);
  const LoadJob& job = *use.deferred;
  ReadAheadBuffer& b = readAhead[use.readAhead];
  b.cache = job.cache;
  b.slot = job.slot;
  b.ticket = nextTicket++;
  b.released = true;
  caches[job.cache].slots[job.slot].issuedTicket = b.ticket;
  if (measuring) ++counters.demandLoads;
  if (job.counted) ++counters.readAheadLoads;
  const bool arrived = b.read;
  lock.unlock();
  if (arrived) copyReadAhead(static_cast<uint32_t>(use.readAhead));
}

void ExpertStore::State::checkAgainstRecording(const std::vector<uint32_t>& experts) {
  if (calls.empty()) return;
  LayerCall now{layer, experts};
  if (callIndex >= calls.size() || calls[callIndex] != now) {
    throw std::runtime_error(
        "expert store: MoE layer call " + std::to_string(callIndex) + " (layer " +
        std::to_string(layer) +
        ") routes differently from the recording pass; Belady and oracle prefetching need a "
        "deterministic run (same seed, threads and inputs)");
  }
}

void ExpertStore::State::scorePrediction(const std::vector<uint32_t>& experts) {
  auto& predicted = predictions[layer];
  if (!predicted) return;
  if (measuring) {
    std::vector<uint32_t> both;
    std::set_intersection(predicted->begin(), predicted->end(), experts.begin(), experts.end(),
                          std::back_inserter(both));
    counters.predicted += predicted->size();
    counters.actual += experts.size();
    counters.truePositives += both.size();
  }
  predicted.reset();
}

// ---- Prefetching ------------------------------------------------------------------------

// The layer that runs next and the experts it is predicted to need, ascending.
std::optional<std::pair<uint32_t, std::vector<uint32_t>>> ExpertStore::State::predictNext() const {
  if (config.prefetch == PrefetchMode::Oracle) {
    if (callIndex + 1 >= calls.size()) return std::nullopt;
    const auto& next = calls[callIndex + 1];
    return std::make_pair(next.moeLayer, next.experts);
  }
  uint32_t next = model.nextMoeLayer[layer];
  std::vector<uint32_t> experts;
  if (config.prefetch == PrefetchMode::All) {
    for (uint32_t e = 0; e < numExperts; ++e) experts.push_back(e);
  } else {  // pre-gating: the next layer's router on this layer's input
    const bool trained = layer < model.pregates.size() && model.pregates[layer].defined();
    const at::Tensor& gate = trained ? model.pregates[layer] : model.routers[next];
    auto picked = std::get<1>(at::topk(at::matmul(input, gate), model.topK));
    auto ids = std::get<0>(at::_unique(picked.reshape({-1}), /*sorted=*/true));
    auto accessor = ids.accessor<int64_t, 1>();
    for (int64_t i = 0; i < ids.size(0); ++i) {
      if (model.localExpert.empty()) {
        experts.push_back(static_cast<uint32_t>(accessor[i]));
      } else if (int32_t local = model.localExpert[next][accessor[i]]; local >= 0) {
        experts.push_back(static_cast<uint32_t>(local));  // ascending: local ids keep id order
      }
    }
  }
  return std::make_pair(next, std::move(experts));
}

// Prefetches into the current layer's own cache wait until its experts ran (endLayer); into
// another layer's cache they start while this layer computes.
bool ExpertStore::State::prefetchAtBegin() const {
  if (config.scope == analysis::CacheScope::Global) return false;
  if (config.prefetch == PrefetchMode::Oracle) {
    return callIndex + 1 < calls.size() && calls[callIndex + 1].moeLayer != layer;
  }
  return model.nextMoeLayer[layer] != layer;
}

void ExpertStore::State::prefetch() {
  auto next = predictNext();
  if (!next) return;
  auto& [target, experts] = *next;
  const uint32_t c = cacheIndex(target);
  Cache& cache = caches[c];
  if (experts.size() > cache.cache.capacity()) experts.resize(cache.cache.capacity());
  predictions[target] = experts;
  cache.cache.beginBatch(keys(target, experts));
  std::vector<LoadJob> loads;
  for (uint32_t expert : experts) {
    CacheAccess access = cache.cache.insert(key(target, expert));
    if (access.hit) continue;
    noteEviction(c, access);
    LoadJob job = newJob(c, access.slot, target, expert, /*prefetch=*/true);
    Slot& slot = cache.slots[access.slot];
    slot.prefetchedUnused = true;
    slot.prefetchCounted = measuring;
    slot.prefetchIssuedNs = traceClockNs();
    record(CacheAction::Prefetch, target, expert, static_cast<int32_t>(access.slot),
           job.transferId);
    loads.push_back(job);
  }
  submit(loads);
}

// ---- ExpertStore ------------------------------------------------------------------------

ExpertStore::ExpertStore(const BufferingConfig& config, ExpertFile file, StoreModel model,
                         std::vector<LayerCall> calls)
    : state_(std::make_unique<State>(config, std::move(file), std::move(model), std::move(calls))) {
  if (config.needsRecordingPass() && state_->calls.empty()) {
    throw std::invalid_argument("expert store: belady and oracle prefetching need the run's calls");
  }
}

ExpertStore::~ExpertStore() = default;

void ExpertStore::beginLayer(int64_t moeLayer, const std::vector<int64_t>& experts,
                             const at::Tensor& input) {
  State& s = *state_;
  s.layer = static_cast<uint32_t>(moeLayer);
  std::vector<uint32_t> ids(experts.begin(), experts.end());
  s.checkAgainstRecording(ids);
  s.scorePrediction(ids);
  s.demandAccesses(ids);
  s.input = input;
  if (s.config.prefetch != PrefetchMode::Off && s.prefetchAtBegin()) s.prefetch();
}

kernels::ExpertView ExpertStore::expert(int64_t expert) {
  State& s = *state_;
  while (s.cursor < s.uses.size() && s.uses[s.cursor].expert != expert) ++s.cursor;
  if (s.cursor == s.uses.size()) {
    throw std::logic_error("expert store: expert " + std::to_string(expert) +
                           " was not announced by beginLayer, or asked for out of order");
  }
  s.releaseDeferred(s.cursor);
  s.readAheadDeferred();
  const Use& use = s.uses[s.cursor];
  s.waitReady(s.cacheIndex(s.layer), use.slot);
  return s.caches[s.cacheIndex(s.layer)].slots[use.slot].view;
}

void ExpertStore::endLayer() {
  State& s = *state_;
  if (s.config.prefetch != PrefetchMode::Off && !s.prefetchAtBegin()) s.prefetch();
  s.input = at::Tensor();
  s.uses.clear();
  ++s.callIndex;
  s.drainTransfers();
}

void ExpertStore::setBatch(int64_t batch) {
  state_->batch = batch;
  state_->measuring = batch >= 0;
}

void ExpertStore::setTrace(collector::TraceSink* trace) {
  state_->waitIdle();  // the last prefetches' transfers belong to the trace they started in
  state_->drainTransfers();
  std::lock_guard lock(state_->mutex);
  state_->trace = trace;
}

int64_t ExpertStore::readAheadBytes() const {
  return static_cast<int64_t>(state_->readAhead.size()) * state_->file.layout().expertBytes;
}

int64_t ExpertStore::residentExpertBytes() const {
  int64_t bytes = 0;
  for (const auto& cache : state_->caches) {
    bytes += int64_t{cache.cache.capacity()} * state_->file.layout().expertBytes;
  }
  return bytes + readAheadBytes();
}

namespace {
nlohmann::json probeJson(const TierBandwidth& probe) {
  return {{"reads", probe.random ? "random expert records" : "sequential chunks"},
          {"read_bytes", probe.readBytes},
          {"depth", probe.depth},
          {"trials", probe.trials},
          {"min_gbps", probe.minBytesPerSecond * 1e-9},
          {"max_gbps", probe.maxBytesPerSecond * 1e-9}};
}

// Share of the transfer time (the union) spent with 1, 2, ... reads in flight.
nlohmann::json readsInFlightShares(const ReadStats& stats) {
  nlohmann::json shares = nlohmann::json::array();
  const double total = static_cast<double>(stats.unionNs());
  for (size_t k = 1; k < stats.nsByReadsInFlight.size(); ++k) {
    shares.push_back(total > 0 ? static_cast<double>(stats.nsByReadsInFlight[k]) / total : 0.0);
  }
  return shares;
}
}  // namespace

nlohmann::json ExpertStore::metricsJson() const {
  State& s = *state_;
  s.waitIdle();
  std::lock_guard lock(s.mutex);
  const StoreCounters& c = s.counters;
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  const uint64_t accesses = c.hits + c.misses;
  foldIntervals(s.readIntervals, s.readStats);
  const ReadStats& r = s.readStats;
  const int64_t transferNs = r.unionNs();
  const double transferSeconds = static_cast<double>(transferNs) * 1e-9;
  const double achieved = ratio(static_cast<double>(c.bytesMoved), transferSeconds);
  return {
      {"policy", s.config.policy},
      {"scope", analysis::cacheScopeName(s.config.scope)},
      {"slots_per_layer", s.config.slotsPerLayer},
      {"prefetch", prefetchModeName(s.config.prefetch)},
      {"pregate_predictor", std::any_of(s.model.pregates.begin(), s.model.pregates.end(),
                                        [](const at::Tensor& gate) { return gate.defined(); })
                                ? "trained pre-gates"
                                : "next layer's router"},
      {"slow_tier",
       {{"tier", "disk"},
        {"io", expertIoModeName(s.file.ioMode())},
        {"file", s.file.path().string()},
        {"reused", s.file.reused()}}},
      {"accesses", accesses},
      {"hits", c.hits},
      {"misses", c.misses},
      {"miss_rate", ratio(static_cast<double>(c.misses), static_cast<double>(accesses))},
      {"evictions", c.evictions},
      {"demand_loads", c.demandLoads},
      {"read_ahead_loads", c.readAheadLoads},
      {"prefetch_loads", c.prefetchLoads},
      {"cancelled_loads", c.cancelledLoads},
      {"useful_prefetches", c.usefulPrefetches},
      {"wasted_prefetches", c.wastedPrefetches},
      {"bytes_moved", c.bytesMoved},
      {"io_depth", s.config.ioDepth},
      {"io_threads", s.ioThreadsPreempt ? "SCHED_FIFO" : "normal (SCHED_FIFO not permitted)"},
      {"reads", r.reads},
      {"mean_read_bytes", ratio(static_cast<double>(r.readBytes), static_cast<double>(r.reads))},
      {"mean_reads_in_flight",
       ratio(static_cast<double>(r.readNs), static_cast<double>(transferNs))},
      {"transfer_share_by_reads_in_flight", readsInFlightShares(r)},
      {"mean_queue_ms",
       ratio(static_cast<double>(r.queuedNs) * 1e-6, static_cast<double>(r.queuedLoads))},
      {"transfer_ms", static_cast<double>(transferNs) * 1e-6},
      {"stall_ms", static_cast<double>(c.stallNs) * 1e-6},
      {"achieved_bandwidth_gbps", achieved * 1e-9},
      {"tier_peak_bandwidth_gbps", s.peak.medianBytesPerSecond * 1e-9},
      {"tier_peak_probe", probeJson(s.peak)},
      {"bandwidth_efficiency", ratio(achieved, s.peak.medianBytesPerSecond)},
      {"tier_large_read_bandwidth_gbps", s.largeReadPeak.medianBytesPerSecond * 1e-9},
      {"tier_large_read_probe", probeJson(s.largeReadPeak)},
      {"bandwidth_efficiency_vs_large_reads",
       ratio(achieved, s.largeReadPeak.medianBytesPerSecond)},
      {"prefetch_precision",
       ratio(static_cast<double>(c.truePositives), static_cast<double>(c.predicted))},
      {"prefetch_recall",
       ratio(static_cast<double>(c.truePositives), static_cast<double>(c.actual))},
      {"prefetch_lead_ms_mean",
       ratio(static_cast<double>(c.leadNs) * 1e-6, static_cast<double>(c.usefulPrefetches))},
      {"resident_expert_bytes", residentExpertBytes()},
      {"read_ahead_buffers", s.config.readAheadBuffers},
      {"read_ahead_bytes", readAheadBytes()},
  };
}

}  // namespace moeprof::workloads
