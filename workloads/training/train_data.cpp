#include "workloads/training/train_data.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <ATen/ATen.h>

#include "collector/errors.h"
#include "workloads/text/corpus.h"
#include "workloads/text/corpus_sources.h"
#include "workloads/text/tokenizer.h"

namespace moeprof::workloads::training {

namespace fs = std::filesystem;

namespace {

// Documents of every domain, taken in turn, each encoded and closed by EOS, up to `maxTokens`
// per domain: one stream in which every domain is represented throughout.
std::vector<int64_t> lmStream(const text::Tokenizer& tokenizer, const fs::path& corpus,
                              const std::string& split, int64_t maxTokens, int64_t eos) {
  std::vector<std::vector<std::string>> documents;
  for (const auto& domain : text::kLmDomains) {
    documents.push_back(text::readLmDocuments(corpus, domain, split));
  }
  std::vector<int64_t> stream;
  std::vector<int64_t> taken(documents.size(), 0);
  std::vector<size_t> next(documents.size(), 0);
  for (bool any = true; any;) {
    any = false;
    for (size_t d = 0; d < documents.size(); ++d) {
      if (next[d] >= documents[d].size() || taken[d] >= maxTokens) continue;
      any = true;
      auto ids = tokenizer.encode(documents[d][next[d]++]);
      stream.insert(stream.end(), ids.begin(), ids.end());
      stream.push_back(eos);
      taken[d] += static_cast<int64_t>(ids.size()) + 1;
    }
  }
  return stream;
}

std::vector<MtPairIds> mtPairs(const text::Tokenizer& tokenizer, const fs::path& corpus,
                               const std::string& split, const CorpusLimits& limits,
                               int64_t maxTokens, int64_t eos) {
  std::vector<std::vector<MtPairIds>> perLanguage;
  for (const auto& language : text::kMtLanguages) {
    const int32_t tag = tokenizer.pieceId("__" + language + "__");
    if (tag < 0) throw InputError("the MT tokenizer has no language tag __" + language + "__");
    auto& pairs = perLanguage.emplace_back();
    int64_t taken = 0;
    for (const auto& pair : text::readMtPairs(corpus, language, split)) {
      if (taken >= maxTokens) break;
      MtPairIds ids;
      ids.source.push_back(tag);
      for (int32_t id : tokenizer.encode(pair.source)) ids.source.push_back(id);
      if (static_cast<int64_t>(ids.source.size()) >= limits.maxSourceTokens) {
        ids.source.resize(limits.maxSourceTokens - 1);
      }
      ids.source.push_back(eos);
      for (int32_t id : tokenizer.encode(pair.target)) ids.target.push_back(id);
      ids.target.push_back(eos);
      if (static_cast<int64_t>(ids.target.size()) > limits.maxTargetTokens) continue;
      taken += static_cast<int64_t>(ids.source.size() + ids.target.size());
      pairs.push_back(std::move(ids));
    }
  }
  std::vector<MtPairIds> mixed;  // languages interleaved, so any prefix holds all three
  for (size_t i = 0;; ++i) {
    bool any = false;
    for (auto& pairs : perLanguage) {
      if (i < pairs.size()) {
        mixed.push_back(std::move(pairs[i]));
        any = true;
      }
    }
    if (!any) break;
  }
  return mixed;
}

at::Tensor longTensor(const std::vector<int64_t>& values, int64_t rows) {
  return at::tensor(values, at::kLong).view({rows, -1});
}

}  // namespace

TrainingData TrainingData::load(WorkloadKind workload, const fs::path& corpusDir,
                                const CorpusLimits& limits) {
  TrainingData data;
  data.workload_ = workload;
  const bool mt = workload == WorkloadKind::Mt;
  data.tokenizerPath_ = corpusDir / "tokenizers" / (mt ? "mt.model" : "lm.model");
  if (!fs::exists(data.tokenizerPath_)) {
    throw InputError("the corpus " + corpusDir.string() + " has no tokenizer " +
                     data.tokenizerPath_.string() + ": build it with `moeprof corpus`");
  }
  auto tokenizer = text::Tokenizer::load(data.tokenizerPath_);
  auto special = tokenizer.specialIds();
  data.vocab_ = tokenizer.vocabSize();
  if (special.eos >= 0) data.eos_ = special.eos;
  if (special.pad >= 0) data.pad_ = special.pad;
  if (mt) {
    data.mtTrain_ =
        mtPairs(tokenizer, corpusDir, "train", limits, limits.trainTokensPerPart, data.eos_);
    data.mtValid_ =
        mtPairs(tokenizer, corpusDir, "valid", limits, limits.validTokensPerPart, data.eos_);
    if (data.mtTrain_.empty() || data.mtValid_.empty()) {
      throw InputError("the corpus " + corpusDir.string() + " holds no MT pairs to train on");
    }
  } else {
    data.lmTrain_ = lmStream(tokenizer, corpusDir, "train", limits.trainTokensPerPart, data.eos_);
    data.lmValid_ = lmStream(tokenizer, corpusDir, "valid", limits.validTokensPerPart, data.eos_);
  }
  return data;
}

int64_t TrainingData::trainTokens() const {
  int64_t tokens = static_cast<int64_t>(lmTrain_.size());
  for (const auto& pair : mtTrain_) tokens += static_cast<int64_t>(pair.target.size());
  return tokens;
}

TokenBatch TrainingData::mtBatch(const std::vector<const MtPairIds*>& pairs) const {
  size_t sourceLength = 0, targetLength = 0;
  for (const auto* pair : pairs) {
    sourceLength = std::max(sourceLength, pair->source.size());
    targetLength = std::max(targetLength, pair->target.size());
  }
  std::vector<int64_t> source, input, target;
  TokenBatch batch;
  for (const auto* pair : pairs) {
    for (size_t i = 0; i < sourceLength; ++i) {
      source.push_back(i < pair->source.size() ? pair->source[i] : pad_);
    }
    for (size_t i = 0; i < targetLength; ++i) {
      // The decoder starts from EOS (fairseq's convention, MtModel::kBosToken).
      input.push_back(i == 0 ? eos_ : i <= pair->target.size() ? pair->target[i - 1] : pad_);
      target.push_back(i < pair->target.size() ? pair->target[i] : kIgnoredTarget);
    }
    batch.targetTokens += static_cast<int64_t>(pair->target.size());
  }
  const auto rows = static_cast<int64_t>(pairs.size());
  batch.source = longTensor(source, rows);
  batch.input = longTensor(input, rows);
  batch.target = longTensor(target, rows);
  return batch;
}

TokenBatch TrainingData::trainBatch(uint64_t seed, int64_t step, int64_t batch,
                                    int64_t seqLen) const {
  std::mt19937_64 generator(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(step));
  if (workload_ == WorkloadKind::Mt) {
    std::uniform_int_distribution<size_t> pick(0, mtTrain_.size() - 1);
    std::vector<const MtPairIds*> pairs;
    for (int64_t b = 0; b < batch; ++b) pairs.push_back(&mtTrain_[pick(generator)]);
    return mtBatch(pairs);
  }
  if (static_cast<int64_t>(lmTrain_.size()) <= seqLen + 1) {
    throw InputError("the LM training text holds " + std::to_string(lmTrain_.size()) +
                     " tokens, fewer than one sequence of " + std::to_string(seqLen + 1));
  }
  std::uniform_int_distribution<size_t> start(0, lmTrain_.size() - seqLen - 1);
  std::vector<int64_t> input, target;
  for (int64_t b = 0; b < batch; ++b) {
    size_t at = start(generator);
    input.insert(input.end(), lmTrain_.begin() + at, lmTrain_.begin() + at + seqLen);
    target.insert(target.end(), lmTrain_.begin() + at + 1, lmTrain_.begin() + at + seqLen + 1);
  }
  return {at::Tensor(), longTensor(input, batch), longTensor(target, batch), batch * seqLen};
}

std::vector<TokenBatch> TrainingData::validBatches(int64_t batch, int64_t seqLen,
                                                   int64_t maxBatches) const {
  std::vector<TokenBatch> batches;
  if (workload_ == WorkloadKind::Mt) {
    for (size_t i = 0; i < mtValid_.size() && static_cast<int64_t>(batches.size()) < maxBatches;
         i += batch) {
      std::vector<const MtPairIds*> pairs;
      for (size_t j = i; j < std::min(mtValid_.size(), i + batch); ++j)
        pairs.push_back(&mtValid_[j]);
      batches.push_back(mtBatch(pairs));
    }
    return batches;
  }
  int64_t rows = std::min<int64_t>(batch, (static_cast<int64_t>(lmValid_.size()) - 1) / seqLen);
  if (rows < 1) throw InputError("the LM validation text is shorter than one sequence");
  for (int64_t at = 0; static_cast<int64_t>(batches.size()) < maxBatches &&
                       at + rows * seqLen + 1 <= static_cast<int64_t>(lmValid_.size());
       at += rows * seqLen) {
    std::vector<int64_t> input(lmValid_.begin() + at, lmValid_.begin() + at + rows * seqLen);
    std::vector<int64_t> target(lmValid_.begin() + at + 1,
                                lmValid_.begin() + at + rows * seqLen + 1);
    batches.push_back(
        {at::Tensor(), longTensor(input, rows), longTensor(target, rows), rows * seqLen});
  }
  return batches;
}

double TrainingData::unigramPerplexity(const std::vector<TokenBatch>& valid) const {
  std::vector<double> counts(vocab_, 1.0);  // add-one
  double total = static_cast<double>(vocab_);
  auto count = [&](int64_t id) {
    if (id >= 0 && id < vocab_) {
      counts[id] += 1;
      total += 1;
    }
  };
  for (int64_t id : lmTrain_) count(id);
  for (const auto& pair : mtTrain_) {
    for (int64_t id : pair.target) count(id);
  }
  double nll = 0;
  int64_t tokens = 0;
  for (const auto& batch : valid) {
    auto target = batch.target.reshape({-1});
    const int64_t* ids = target.data_ptr<int64_t>();
    for (int64_t i = 0; i < target.numel(); ++i) {
      if (ids[i] == kIgnoredTarget) continue;
      nll -= std::log(counts[ids[i]] / total);
      ++tokens;
    }
  }
  return tokens ? std::exp(nll / static_cast<double>(tokens)) : 0.0;
}

}  // namespace moeprof::workloads::training
