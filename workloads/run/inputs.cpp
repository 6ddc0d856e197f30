#include "workloads/run/inputs.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "collector/errors.h"

namespace moeprof::workloads {

namespace {

std::vector<int64_t> readTokenFile(const std::filesystem::path& file, int64_t vocab) {
  std::ifstream in(file);
  if (!in) {
    throw InputError("cannot read token file '" + file.string() + "': " + std::strerror(errno));
  }
  std::vector<int64_t> tokens;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || id < 0) {
      throw InputError("token file '" + file.string() + "': item " +
                       std::to_string(tokens.size() + 1) + " is '" + word +
                       "', expected a non-negative integer token id");
    }
    if (id >= vocab) {
      throw InputError("token file '" + file.string() + "': token id " + std::to_string(id) +
                       " (item " + std::to_string(tokens.size() + 1) +
                       ") is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
    tokens.push_back(id);
  }
  if (tokens.empty()) throw InputError("token file '" + file.string() + "' holds no token ids");
  return tokens;
}

}  // namespace

TokenSource::TokenSource(uint64_t seed, int64_t vocab, int64_t firstId)
    : vocab_(vocab),
      firstId_(std::min(firstId, vocab - 1)),
      generator_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

TokenSource::TokenSource(const std::filesystem::path& file, int64_t vocab)
    : vocab_(vocab), fileTokens_(readTokenFile(file, vocab)) {}

TokenSource::TokenSource(std::vector<int64_t> ids, int64_t vocab)
    : vocab_(vocab), fileTokens_(std::move(ids)) {
  for (int64_t id : fileTokens_) {
    if (id < 0 || id >= vocab) {
      throw InputError("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                       std::to_string(vocab) + ")");
    }
  }
  if (fileTokens_.empty()) throw InputError("no token ids to read batches from");
}

at::Tensor TokenSource::next(int64_t batch, int64_t length) {
  if (fileTokens_.empty()) {
    return at::randint(firstId_, vocab_, {batch, length}, generator_,
                       at::TensorOptions().dtype(at::kLong));
  }
  auto out = at::empty({batch, length}, at::TensorOptions().dtype(at::kLong));
  auto* data = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < batch * length; ++i) {
    data[i] = fileTokens_[cursor_];
    cursor_ = (cursor_ + 1) % fileTokens_.size();
  }
  return out;
}

}  // namespace moeprof::workloads
