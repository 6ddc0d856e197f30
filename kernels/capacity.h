#pragma once
// Expert capacity of static gating: how many token slots each expert's buffer has.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace moeprof::kernels {

// How the capacity C of each expert follows from the capacity factor CF.
enum class CapacityMode {
  Eval,   // C = ceil(CF * S): fairseq's evaluation rule, what the paper measures
  Train,  // C = ceil(CF * k * S / E): GShard/fairseq training rule
};

inline int64_t expertCapacity(CapacityMode mode, double capacityFactor, int64_t tokens,
                              int64_t experts, int64_t topK) {
  double slots = mode == CapacityMode::Eval
                     ? capacityFactor * static_cast<double>(tokens)
                     : capacityFactor * static_cast<double>(topK * tokens) / experts;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(slots)));
}

}  // namespace moeprof::kernels
