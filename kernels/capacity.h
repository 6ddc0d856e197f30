#pragma once
// Expert capacity of static gating: how many token slots each expert's buffer has.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace moeprof::kernels {

// How the capacity C of each expert follows from the capacity factor CF, for S tokens, E
// experts and k experts per token.
enum class CapacityMode {
  Eval,   // C = ceil(CF * S): fairseq's evaluation rule, what the paper measures
  Train,  // C = ceil(CF * k * ceil(S / E)): fairseq's training rule, 2 * ceil(S / E) for
          // top-2 at CF = 1 (fairseq's top2gating has no factor in training; CF scales it)
};

inline int64_t expertCapacity(CapacityMode mode, double capacityFactor, int64_t tokens,
                              int64_t experts, int64_t topK) {
  // ceil(S / E) in integers: the tokens an expert gets when they are spread evenly, rounded up
  // before scaling (48 tokens over 128 experts: 1, so top-2 gets 2 slots, not ceil(0.75) = 1).
  const int64_t evenShare = (tokens + experts - 1) / experts;
  double slots = mode == CapacityMode::Eval
                     ? capacityFactor * static_cast<double>(tokens)
                     : capacityFactor * static_cast<double>(topK * evenShare);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(slots)));
}

}  // namespace moeprof::kernels
