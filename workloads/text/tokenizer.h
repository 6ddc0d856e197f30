#pragma once
// Subword tokenizers: SentencePiece models, trained here on the corpora or loaded from any
// SentencePiece .model file (NLLB's and T5/Switch's are). Torch-free; SentencePiece stays out
// of this header.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace moeprof::text {

// Ids of the special pieces; -1 when the model has none.
struct SpecialIds {
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t pad = -1;
  int32_t unk = -1;
};

// A loaded SentencePiece model. Encoding and decoding are const and thread-safe.
class Tokenizer {
 public:
  // Throws InputError naming the file when it cannot be read or is not a SentencePiece model.
  static Tokenizer load(const std::filesystem::path& model);
  static Tokenizer fromSerialized(const std::string& modelBytes, const std::string& name);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  int32_t vocabSize() const;
  SpecialIds specialIds() const;
  // The id of a whole piece (a language tag like __fr__), or -1 when the model lacks it.
  int32_t pieceId(std::string_view piece) const;

 private:
  explicit Tokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor);
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

// How to train: the vocabulary, the kind of model, pieces that must be single tokens (language
// tags), and how much of the characters the vocabulary must cover (below 1 for scripts with
// thousands of rare characters, as ja).
struct TokenizerTrainOptions {
  int32_t vocabSize = 4096;
  std::string modelType = "unigram";  // unigram or bpe
  std::vector<std::string> userSymbols;
  double characterCoverage = 0.9995;
  int32_t threads = 2;
};

// Trains on `sentences` and returns the serialized model (the bytes of a .model file). Special
// ids follow fairseq: bos 0, pad 1, eos 2, unk 3. Deterministic for the same sentences and
// options. Throws InputError for options SentencePiece rejects (naming its message).
std::string trainTokenizer(const std::vector<std::string>& sentences,
                           const TokenizerTrainOptions& options);

}  // namespace moeprof::text
