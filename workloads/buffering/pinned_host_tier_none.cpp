// PinnedHostTier where moeprof was built without the CUDA toolkit: there is no GPU tier.
#include <stdexcept>

#include "workloads/buffering/pinned_host_tier.h"

namespace moeprof::workloads {

std::unique_ptr<PinnedHostTier> PinnedHostTier::create(const PinnedHostShape&, int) {
  throw std::runtime_error(
      "pinned host tier: this moeprof was built without the CUDA toolkit, so experts cannot be "
      "buffered in device memory");
}

}  // namespace moeprof::workloads
