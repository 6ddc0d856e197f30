#include "workloads/expert_store.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

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

// One load into a slot. Demand loads are served before prefetches.
struct LoadJob {
  uint32_t cache = 0, slot = 0, layer = 0, expert = 0;
  uint64_t ticket = 0, transferId = 0;
  bool prefetch = false;
  bool counted = false;  // issued in a measured batch
};

// A needed expert of the current call: its slot, and the earlier expert of the same call whose
// slot it takes (its load waits until that one has run), or -1.
struct Use {
  uint32_t expert = 0;
  uint32_t slot = 0;
  int32_t blockedBy = -1;
  std::optional<LoadJob> deferred;
};

// Sorts and merges `intervals` in place into disjoint ones; returns their total length.
int64_t mergeIntervals(std::vector<std::pair<int64_t, int64_t>>& intervals) {
  std::sort(intervals.begin(), intervals.end());
  size_t kept = 0;
  for (const auto& interval : intervals) {
    if (kept > 0 && interval.first <= intervals[kept - 1].second) {
      intervals[kept - 1].second = std::max(intervals[kept - 1].second, interval.second);
    } else {
      intervals[kept++] = interval;
    }
  }
  intervals.resize(kept);
  int64_t total = 0;
  for (const auto& [start, end] : intervals) total += end - start;
  return total;
}

}  // namespace

struct ExpertStore::State {
  BufferingConfig config;
  ExpertFile file;
  StoreModel model;
  std::vector<LayerCall> calls;
  std::vector<Cache> caches;
  uint32_t numExperts = 0;

  // The current call.
  uint32_t layer = 0;
  size_t callIndex = 0;
  std::vector<Use> uses;
  size_t cursor = 0;
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
  // When measured reads ran, [start, end) ns: their union is the time the tier was busy (reads in
  // flight together count once).
  std::vector<std::pair<int64_t, int64_t>> readIntervals;
  std::vector<std::thread> io;
  TierBandwidth peak;  // the slow tier's read bandwidth at the same depth

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
  LoadJob newJob(uint32_t cache, uint32_t slot, uint32_t moeLayer, uint32_t expert, bool prefetch);
  void waitReady(uint32_t cache, uint32_t slot);
  void waitIdle();
  void drainTransfers();

  void record(CacheAction action, uint32_t moeLayer, uint32_t expert, int32_t slot,
              uint64_t transferId = 0);
  void noteEviction(uint32_t cache, const CacheAccess& access);
  void demandAccesses(const std::vector<uint32_t>& experts);
  void releaseDeferred(size_t upTo);
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
  constexpr int64_t kProbeBytesPerTrial = int64_t{64} << 20;
  constexpr int kProbeTrials = 5;
  peak = file.measureBandwidth(kProbeBytesPerTrial, config.ioDepth, kProbeTrials);
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
  std::unique_lock lock(mutex);
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
      bool replaced = slotOf(job).issuedTicket != job.ticket;
      if (replaced && job.counted) ++counters.cancelledLoads;
      return replaced;
    });
    auto free = [&](const LoadJob& job) { return !slotOf(job).reading; };
    auto first = std::find_if(queue->begin(), queue->end(), free);
    if (first == queue->end()) continue;
    std::vector<LoadJob> jobs{*first};
    queue->erase(first);
    while (jobs.size() < kMaxAdjacentReads) {
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
  for (const auto& job : jobs) caches[job.cache].slots[job.slot].reading = reading;
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
    destinations.push_back(caches[job.cache].memory.data + job.slot * recordBytes);
  }
  collector::TransferEvent event;
  event.startNs = traceClockNs();
  file.readAdjacent(jobs.front().layer, jobs.front().expert, destinations);
  event.endNs = traceClockNs();
  event.threadId = collector::traceThreadId();
  event.bytes = recordBytes;
  event.source = collector::MemoryTier::Disk;
  event.destination = collector::MemoryTier::Host;
  std::lock_guard lock(mutex);
  if (std::any_of(jobs.begin(), jobs.end(), [](const LoadJob& j) { return j.counted; })) {
    readIntervals.emplace_back(event.startNs, event.endNs);
    constexpr size_t kMergeAbove = size_t{1} << 16;  // bounds the memory of long runs
    if (readIntervals.size() > kMergeAbove) mergeIntervals(readIntervals);
  }
  for (const auto& job : jobs) {
    caches[job.cache].slots[job.slot].loadedTicket = job.ticket;
    if (job.counted) counters.bytesMoved += recordBytes;
    if (!trace) continue;
    event.transferId = job.transferId;
    event.moeLayer = job.layer;
    event.expert = job.expert;
    event.prefetch = job.prefetch;
    finished.push_back(event);
  }
}

LoadJob ExpertStore::State::newJob(uint32_t cache, uint32_t slot, uint32_t moeLayer,
                                   uint32_t expert, bool prefetch) {
  return {cache, slot, moeLayer, expert, 0, nextTransferId++, prefetch, measuring};
}

void ExpertStore::State::submit(LoadJob job) {
  {
    std::lock_guard lock(mutex);
    job.ticket = nextTicket++;
    caches[job.cache].slots[job.slot].issuedTicket = job.ticket;
    (job.prefetch ? prefetches : demand).push_back(job);
  }
  changed.notify_all();
  if (measuring) ++(job.prefetch ? counters.prefetchLoads : counters.demandLoads);
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
  uses.clear();
  cursor = 0;
  for (uint32_t expert : experts) {
    CacheAccess access = cache.cache.access(key(layer, expert));
    Slot& slot = cache.slots[access.slot];
    Use use{expert, access.slot, -1, std::nullopt};
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
        submit(job);
      }
    }
    userOfSlot[access.slot] = static_cast<int32_t>(uses.size());
    uses.push_back(std::move(use));
  }
}

// Starts the loads that waited for experts before `upTo` to run (they have: CPU experts run
// synchronously, one after the other).
void ExpertStore::State::releaseDeferred(size_t upTo) {
  for (size_t i = upTo; i < uses.size(); ++i) {
    Use& use = uses[i];
    if (use.deferred && use.blockedBy < static_cast<int32_t>(upTo)) {
      submit(*use.deferred);
      use.deferred.reset();
    }
  }
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
    submit(job);
  }
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

int64_t ExpertStore::residentExpertBytes() const {
  int64_t bytes = 0;
  for (const auto& cache : state_->caches) {
    bytes += int64_t{cache.cache.capacity()} * state_->file.layout().expertBytes;
  }
  return bytes;
}

nlohmann::json ExpertStore::metricsJson() const {
  State& s = *state_;
  s.waitIdle();
  std::lock_guard lock(s.mutex);
  const StoreCounters& c = s.counters;
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  const uint64_t accesses = c.hits + c.misses;
  const int64_t transferNs = mergeIntervals(s.readIntervals);
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
      {"prefetch_loads", c.prefetchLoads},
      {"cancelled_loads", c.cancelledLoads},
      {"useful_prefetches", c.usefulPrefetches},
      {"wasted_prefetches", c.wastedPrefetches},
      {"bytes_moved", c.bytesMoved},
      {"io_depth", s.config.ioDepth},
      {"transfer_ms", static_cast<double>(transferNs) * 1e-6},
      {"stall_ms", static_cast<double>(c.stallNs) * 1e-6},
      {"achieved_bandwidth_gbps", achieved * 1e-9},
      {"tier_peak_bandwidth_gbps", s.peak.medianBytesPerSecond * 1e-9},
      {"tier_peak_probe",
       {{"trials", s.peak.trials},
        {"depth", s.peak.depth},
        {"min_gbps", s.peak.minBytesPerSecond * 1e-9},
        {"max_gbps", s.peak.maxBytesPerSecond * 1e-9}}},
      {"bandwidth_efficiency", ratio(achieved, s.peak.medianBytesPerSecond)},
      {"prefetch_precision",
       ratio(static_cast<double>(c.truePositives), static_cast<double>(c.predicted))},
      {"prefetch_recall",
       ratio(static_cast<double>(c.truePositives), static_cast<double>(c.actual))},
      {"prefetch_lead_ms_mean",
       ratio(static_cast<double>(c.leadNs) * 1e-6, static_cast<double>(c.usefulPrefetches))},
      {"resident_expert_bytes", residentExpertBytes()},
  };
}

}  // namespace moeprof::workloads
