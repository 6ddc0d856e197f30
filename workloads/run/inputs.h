#pragma once
// Token batches for the workloads: seeded uniform random ids, or ids read from a file or
// tokenized from text.
// A token file is whitespace-separated non-negative integers, read as one stream: each batch
// takes the next batch x length ids, wrapping around at the end of the file.
#include <cstdint>
#include <filesystem>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace moeprof::workloads {

class TokenSource {
 public:
  // Random ids in [firstId, vocab), reproducible from the seed. Ids below firstId are
  // reserved (padding, BOS, EOS).
  TokenSource(uint64_t seed, int64_t vocab, int64_t firstId = 4);
  // Ids from a file; throws InputError when it cannot be read, holds something other than
  // non-negative integers, is empty, or has an id outside [0, vocab).
  TokenSource(const std::filesystem::path& file, int64_t vocab);
  // Ids given as a stream (tokenized text), read like a token file; none may be >= vocab.
  TokenSource(std::vector<int64_t> ids, int64_t vocab);

  at::Tensor next(int64_t batch, int64_t length);  // (batch, length) int64 on the CPU

 private:
  int64_t vocab_;
  int64_t firstId_ = 0;
  at::Generator generator_;
  std::vector<int64_t> fileTokens_;
  size_t cursor_ = 0;
};

}  // namespace moeprof::workloads
