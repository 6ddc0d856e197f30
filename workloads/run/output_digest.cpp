#include "workloads/run/output_digest.h"

#include <cstdio>
#include <cstring>

#include <ATen/ATen.h>

namespace moeprof::workloads {

void OutputDigest::add(const at::Tensor& tensor) {
  constexpr uint64_t kPrime = 0x100000001b3ULL;  // FNV-1a's, applied to 8-byte words
  at::Tensor bytes = tensor.contiguous().cpu();
  const auto* data = static_cast<const unsigned char*>(bytes.data_ptr());
  const size_t size = bytes.numel() * bytes.element_size();
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    state_ = (state_ ^ word) * kPrime;
  }
  for (; i < size; ++i) state_ = (state_ ^ data[i]) * kPrime;
  state_ = (state_ ^ size) * kPrime;  // shapes that differ only in length differ
}

std::string OutputDigest::hex() const {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(state_));
  return text;
}

}  // namespace moeprof::workloads
