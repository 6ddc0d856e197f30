#pragma once
// The token data `moeprof train` learns from: the cached corpus of `moeprof corpus`
// (workloads/text) tokenized with its SentencePiece tokenizers. LM: the three domains' documents
// interleaved into one stream per split; MT: English -> fr/ja/ast pairs with the language tag
// first on the source side, as the workloads feed them. Batches are a pure function of
// (seed, step), so a resumed run sees exactly the batches an uninterrupted one would.
#include <cstdint>
#include <filesystem>
#include <vector>

#include <ATen/core/Tensor.h>

#include "workloads/model/model_config.h"

namespace moeprof::workloads::training {

inline constexpr int64_t kIgnoredTarget = -100;  // padding positions of a target: no loss

// One training or validation batch. LM: input and target (B, T), target the input shifted by
// one. MT: source (B, S) padded with the pad id, input (B, T) the target side behind the start
// token, target (B, T) with kIgnoredTarget on padding.
struct TokenBatch {
  at::Tensor source;
  at::Tensor input;
  at::Tensor target;
  int64_t targetTokens = 0;  // positions that count in the loss
};

// How much of the corpus to tokenize (it holds far more than a few minutes of training uses).
struct CorpusLimits {
  int64_t trainTokensPerPart = 400'000;  // per LM domain or MT language
  int64_t validTokensPerPart = 12'000;
  int64_t maxSourceTokens = 32;  // MT: longer pairs are cut (source) or skipped (target)
  int64_t maxTargetTokens = 32;
};

struct MtPairIds {
  std::vector<int64_t> source;  // tag, sentence, eos
  std::vector<int64_t> target;  // sentence, eos
};

class TrainingData {
 public:
  // Reads and tokenizes the corpus in `corpusDir` (built already). InputError when a split or
  // the tokenizer is missing.
  static TrainingData load(WorkloadKind workload, const std::filesystem::path& corpusDir,
                           const CorpusLimits& limits);

  WorkloadKind workload() const { return workload_; }
  int64_t vocab() const { return vocab_; }
  const std::filesystem::path& tokenizerPath() const { return tokenizerPath_; }
  int64_t trainTokens() const;

  // The batch of training step `step` (1-based): `batch` sequences of `seqLen` tokens (LM) or
  // `batch` pairs (MT), drawn with a generator seeded by (seed, step) only.
  TokenBatch trainBatch(uint64_t seed, int64_t step, int64_t batch, int64_t seqLen) const;
  // Fixed validation batches: consecutive windows (LM) or the first pairs (MT).
  std::vector<TokenBatch> validBatches(int64_t batch, int64_t seqLen, int64_t maxBatches) const;
  // Perplexity of a unigram model of the training targets (add-one smoothed) on the target
  // tokens of `valid`: the baseline a trained model must beat.
  double unigramPerplexity(const std::vector<TokenBatch>& valid) const;

 private:
  TokenBatch mtBatch(const std::vector<const MtPairIds*>& pairs) const;
  WorkloadKind workload_ = WorkloadKind::Lm;
  int64_t vocab_ = 0;
  int64_t pad_ = 1;
  int64_t eos_ = 2;
  std::filesystem::path tokenizerPath_;
  std::vector<int64_t> lmTrain_, lmValid_;
  std::vector<MtPairIds> mtTrain_, mtValid_;
};

}  // namespace moeprof::workloads::training
