#pragma once
// A fingerprint of what a run computed (the logits of every measured unit, in order), so that
// two runs can be checked for bit-identical outputs: Expert Buffering and prefetching must not
// change a single bit of what the model computes.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace moeprof::workloads {

class OutputDigest {
 public:
  void add(const at::Tensor& tensor);  // its values, in row-major order (copied to the CPU)
  std::string hex() const;             // 16 hex digits

 private:
  uint64_t state_ = 0xcbf29ce484222325ULL;  // FNV-1a offset basis
};

}  // namespace moeprof::workloads
