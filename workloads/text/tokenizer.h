#pragma once
// Subword tokenizers: SentencePiece models, trained here on the corpora or loaded from any
// SentencePiece .model file (NLLB's and T5/Switch's are). Torch-free. SentencePiece itself is
// loaded at run time from libmoeprof_sentencepiece.so (see sentencepiece_shim.h for why).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace moeprof::text {

struct SentencePieceModule;  // the loaded libmoeprof_sentencepiece.so

// Ids of the special pieces; -1 when the model has none.
struct SpecialIds {
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t pad = -1;
  int32_t unk = -1;
  int32_t size = 0;  // pieces in the vocabulary
};

// A loaded SentencePiece model. Encoding and decoding are const and thread-safe.
class Tokenizer {
 public:
  // Throws InputError naming the file when it cannot be read or is not a SentencePiece model.
  static Tokenizer load(const std::filesystem::path& model);
  static Tokenizer fromSerialized(const std::string& modelBytes, const std::string& name);
  Tokenizer(Tokenizer&& other) noexcept;
  Tokenizer& operator=(Tokenizer&& other) noexcept;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  int32_t vocabSize() const;
  SpecialIds specialIds() const;
  // The id of a whole piece (a language tag like __fr__), or -1 when the model lacks it.
  int32_t pieceId(std::string_view piece) const;

 private:
  Tokenizer(std::shared_ptr<const SentencePieceModule> module, void* processor);
  std::shared_ptr<const SentencePieceModule> module_;
  void* processor_ = nullptr;  // owned; freed through the module
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
// options. Throws InputError for options SentencePiece rejects (naming its message), and
// std::runtime_error when libmoeprof_sentencepiece.so cannot be loaded.
std::string trainTokenizer(const std::vector<std::string>& sentences,
                           const TokenizerTrainOptions& options);

}  // namespace moeprof::text
