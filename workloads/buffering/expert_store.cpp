#include "workloads/buffering/expert_store.h"
#include "workloads/buffering/expert_store_state.h"

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

#include "analysis/cache_timeline.h"
#include "collector/errors.h"
#include "collector/phase_timer.h"
#include "collector/trace_events.h"
#include "collector/trace_sink.h"
#include "workloads/buffering/disk_tier.h"

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

using store_detail::Cache;
using store_detail::LoadJob;
using store_detail::ReadAheadBuffer;
using store_detail::ReadStats;
using store_detail::Slot;
using store_detail::StoreCounters;
using store_detail::Use;

namespace store_detail {

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

}  // namespace store_detail

ExpertStore::State::State(const BufferingConfig& c, ExpertFile f, const ExpertTierFactory& makeTier,
                          StoreModel m, std::vector<LayerCall> future)
    : config(c),
      file(std::move(f)),
      tier(makeTier ? makeTier(file) : makeExpertTier(c.tier, file)),
      model(std::move(m)),
      calls(std::move(future)),
      numExperts(file.numExperts()),
      predictions(file.numLayers()) {
  buildCaches();
  if (config.readAheadBuffers > 0) {
    const int64_t recordBytes = file.layout().recordBytes;
    readAheadMemory = tier->allocate(int64_t{config.readAheadBuffers} * recordBytes);
    for (uint32_t b = 0; b < config.readAheadBuffers; ++b) {
      readAhead.push_back({readAheadMemory.data() + b * recordBytes});
    }
  }
  fences = {static_cast<uint32_t>(caches.size()), caches.front().cache.capacity(),
            config.readAheadBuffers};
  tier->setFenceCount(fences.count());
  constexpr int kProbeTrials = 5;
  largeReadPeak = summarizePeak(tier->measurePeak(config.ioDepth, kProbeTrials,
                                                  /*largeTransfers=*/true, /*firstTrial=*/0));
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
                tier->allocate(capacity * layout.recordBytes),
                {}};
    for (uint32_t s = 0; s < capacity; ++s) {
      cache.slots.push_back(
          {tierView(tier->kind(), layout, cache.memory.data() + s * layout.recordBytes)});
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
  std::unique_ptr<TierLane> lane;
  try {
    lane = tier->openLane();
  } catch (...) {
    std::lock_guard errorLock(mutex);
    ioError = std::current_exception();
    changed.notify_all();
    return;
  }
  std::unique_lock lock(mutex);
  if (!preempts) ioThreadsPreempt = false;
  for (;;) {
    std::vector<LoadJob> jobs;
    changed.wait(lock, [&] { return stopping || !(jobs = takeReads()).empty(); });
    if (stopping) return;
    markReading(jobs, true);
    lock.unlock();
    try {
      runJobs(*lane, jobs);
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

void ExpertStore::State::runJobs(TierLane& lane, const std::vector<LoadJob>& jobs) {
  const int64_t recordBytes = file.layout().recordBytes;
  std::vector<std::byte*> destinations;
  std::vector<uint32_t> destinationFences;
  for (const auto& job : jobs) {
    const bool buffer = job.readAhead >= 0;
    destinations.push_back(buffer ? readAhead[job.readAhead].data
                                  : caches[job.cache].memory.data() + job.slot * recordBytes);
    destinationFences.push_back(buffer ? fences.readAhead(static_cast<uint32_t>(job.readAhead))
                                       : fences.slot(job.cache, job.slot));
  }
  collector::TransferEvent event;
  event.startNs = traceClockNs();
  TierTransfer moved =
      lane.move(jobs.front().layer, jobs.front().expert, destinations, destinationFences);
  event.endNs = traceClockNs();
  // A device copy's own duration: the host also waited for the fences and the copy engine.
  if (moved.timedOnDevice) event.startNs = event.endNs - moved.durationNs;
  event.threadId = collector::traceThreadId();
  event.bytes = recordBytes;
  const bool onDisk = tier->kind() == TierKind::Disk;
  event.source = onDisk ? collector::MemoryTier::Disk : collector::MemoryTier::Host;
  event.destination = onDisk ? collector::MemoryTier::Host : collector::MemoryTier::Device;
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
  std::byte* target = caches[b.cache].memory.data() + b.slot * file.layout().recordBytes;
  const uint64_t ticket = b.ticket;
  lock.unlock();
  tier->copyWithin(target, b.data, file.layout().recordBytes, fences.readAhead(buffer));
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
  // The store lets go of these slots now: what reads their old experts has been issued.
  for (const LoadJob& job : jobs) tier->release(fences.slot(job.cache, job.slot));
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
  {
    collector::NvtxRange stall(analysis::kExpertStallRange);  // analysis/cache_timeline.h
    changed.wait(lock, ready);
  }
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

// Takes one sample of the tier's random-record peak (PeakSamples) and closes the batch before
// it. The probe's time is kept out of the run's figures: no read is in flight while it runs, and
// prefetches waiting to be used have their issue time moved on by its duration (lead time).
void ExpertStore::State::samplePeak() {
  constexpr int kTrialsPerSample = 2;
  waitIdle();
  {
    std::lock_guard lock(mutex);
    foldIntervals(readIntervals, readStats);
    if (!peakSamples.bytesPerSecond.empty()) {
      peakSamples.batches.emplace_back(counters.bytesMoved - peakSamples.bytesMovedBefore,
                                       readStats.unionNs() - peakSamples.transferNsBefore);
    }
    peakSamples.bytesMovedBefore = counters.bytesMoved;
    peakSamples.transferNsBefore = readStats.unionNs();
  }
  const int64_t start = traceClockNs();
  if (peakByDepth.empty()) {
    for (uint32_t depth = 1; depth < config.ioDepth; depth *= 2) peakByDepth.emplace_back();
    peakByDepth.emplace_back();
  }
  for (size_t i = 0; i + 1 < peakByDepth.size(); ++i) {
    peakByDepth[i].add(
        summarizePeak(tier->measurePeak(uint32_t{1} << i, 1, false, peakByDepth[i].trials)));
  }
  TierBandwidth sample =
      summarizePeak(tier->measurePeak(config.ioDepth, kTrialsPerSample, false, peak.trials));
  const int64_t probeNs = traceClockNs() - start;
  peak.add(sample);
  peakByDepth.back() = peak;
  peakSamples.bytesPerSecond.push_back(sample.medianBytesPerSecond);
  for (auto& cache : caches) {
    for (auto& slot : cache.slots) {
      if (slot.prefetchedUnused) slot.prefetchIssuedNs += probeNs;
    }
  }
}

// ---- Demand accesses --------------------------------------------------------------------

void ExpertStore::State::record(CacheAction action, uint32_t moeLayer, uint32_t expert,
                                int32_t slot, uint64_t transferId) {
  if (!trace || !measuring) return;  // warm-up batches are not logged, as in the routing log
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
    auto ids = std::get<0>(at::_unique(picked.reshape({-1}), /*sorted=*/true)).to(at::kCPU);
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
                         std::vector<LayerCall> calls, const ExpertTierFactory& makeTier)
    : state_(std::make_unique<State>(config, std::move(file), makeTier, std::move(model),
                                     std::move(calls))) {
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
  if (batch >= 0) state_->samplePeak();
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

}  // namespace moeprof::workloads
