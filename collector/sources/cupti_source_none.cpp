// The CUPTI source of a build without CUPTI: it is never available, so runs record why.
#include <stdexcept>

#include "collector/sources/cupti_source.h"

namespace moeprof::collector {

struct CuptiSource::Impl {};

CuptiSource::Availability CuptiSource::availability() {
  return {false, "unavailable: built without CUPTI"};
}

CuptiSource::CuptiSource() : CuptiSource(Options{}) {}
CuptiSource::CuptiSource(Options options) : options_(options) {}
CuptiSource::~CuptiSource() = default;

void CuptiSource::start(TraceSink&) {
  throw std::runtime_error(availability().reason);
}
void CuptiSource::stop() {}
bool CuptiSource::running() const {
  return false;
}
bool CuptiSource::capturesNvtx() const {
  return false;
}
void CuptiSource::pushExternalCorrelation(uint64_t) {}
void CuptiSource::popExternalCorrelation() {}
void CuptiSource::operatorStarted(uint64_t) {}
void CuptiSource::operatorEnded(uint64_t) {}

}  // namespace moeprof::collector
