#include "collector/phase_timer.h"

#include <algorithm>

#if MOEPROF_HAVE_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

namespace moeprof::collector {

const char* phaseName(Phase phase) {
  switch (phase) {
    case Phase::Gate:
      return "gate";
    case Phase::Dispatch:
      return "dispatch";
    case Phase::Experts:
      return "experts";
    case Phase::Combine:
      return "combine";
    case Phase::Attention:
      return "attention";
    case Phase::Other:
      return "other";
  }
  return "unknown";
}

namespace {

#if MOEPROF_HAVE_NVTX
// NVTX domains are process-wide handles owned by the NVTX library; creating one is idempotent.
nvtxDomainHandle_t moeprofDomain() {
  static const nvtxDomainHandle_t domain = nvtxDomainCreateA("moeprof");
  return domain;
}

void pushNvtxRange(const char* name) {
  nvtxEventAttributes_t attributes{};
  attributes.version = NVTX_VERSION;
  attributes.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attributes.messageType = NVTX_MESSAGE_TYPE_ASCII;
  attributes.message.ascii = name;
  nvtxDomainRangePushEx(moeprofDomain(), &attributes);
}
void popNvtxRange() {
  nvtxDomainRangePop(moeprofDomain());
}
#else
void pushNvtxRange(const char*) {}
void popNvtxRange() {}
#endif

}  // namespace

NvtxRange::NvtxRange(const char* name) {
  pushNvtxRange(name);
}

NvtxRange::~NvtxRange() {
  popNvtxRange();
}

int64_t PhaseTimer::otherNs(int64_t wallNs) const {
  int64_t named = 0;
  for (int i = 0; i < kPhaseCount; ++i) {
    if (static_cast<Phase>(i) != Phase::Other) named += totalsNs_[i];
  }
  return std::max<int64_t>(0, wallNs - named + totalsNs_[static_cast<int>(Phase::Other)]);
}

PhaseScope::PhaseScope(PhaseTimer* timer, Phase phase)
    : range_(phaseName(phase)), timer_(timer), phase_(phase) {
  if (timer_) start_ = std::chrono::steady_clock::now();
}

PhaseScope::~PhaseScope() {
  if (!timer_) return;
  auto elapsed = std::chrono::steady_clock::now() - start_;
  timer_->add(phase_, std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
}

}  // namespace moeprof::collector
