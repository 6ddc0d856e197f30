#include "workloads/text/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <sstream>
#include <unordered_map>

#include "collector/errors.h"

namespace moeprof::text {

namespace {

// Feeds the trainer from memory, so no temporary input file is needed.
class VectorSentences : public sentencepiece::SentenceIterator {
 public:
  explicit VectorSentences(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor)
    : processor_(std::move(processor)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::filesystem::path& model) {
  std::ifstream in(model, std::ios::binary);
  if (!in) throw InputError("cannot read tokenizer model '" + model.string() + "'");
  std::stringstream bytes;
  bytes << in.rdbuf();
  return fromSerialized(bytes.str(), model.string());
}

Tokenizer Tokenizer::fromSerialized(const std::string& modelBytes, const std::string& name) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  auto status = processor->LoadFromSerializedProto(modelBytes);
  if (!status.ok() || processor->GetPieceSize() <= 0) {
    throw InputError("'" + name + "' is not a SentencePiece model: " + status.ToString());
  }
  return Tokenizer(std::move(processor));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  auto status = processor_->Encode(text, &ids);
  if (!status.ok()) throw std::runtime_error("SentencePiece encode failed: " + status.ToString());
  return {ids.begin(), ids.end()};
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  int32_t size = vocabSize();
  std::vector<int> checked;
  checked.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= size) {
      throw InputError("token id " + std::to_string(id) +
                       " is outside the tokenizer's vocabulary [0, " + std::to_string(size) + ")");
    }
    checked.push_back(id);
  }
  std::string text;
  auto status = processor_->Decode(checked, &text);
  if (!status.ok()) throw std::runtime_error("SentencePiece decode failed: " + status.ToString());
  return text;
}

int32_t Tokenizer::vocabSize() const {
  return processor_->GetPieceSize();
}

SpecialIds Tokenizer::specialIds() const {
  return {processor_->bos_id(), processor_->eos_id(), processor_->pad_id(), processor_->unk_id()};
}

int32_t Tokenizer::pieceId(std::string_view piece) const {
  int32_t id = processor_->PieceToId(piece);
  // PieceToId answers unk for unknown pieces; only the unknown piece itself maps there.
  if (id == processor_->unk_id() && processor_->IdToPiece(id) != piece) return -1;
  return id;
}

std::string trainTokenizer(const std::vector<std::string>& sentences,
                           const TokenizerTrainOptions& options) {
  if (sentences.empty()) throw InputError("no text to train a tokenizer on");
  if (options.modelType != "unigram" && options.modelType != "bpe") {
    throw InputError("tokenizer model type '" + options.modelType +
                     "' is not one of: unigram, bpe");
  }
  if (options.vocabSize < 8 || options.vocabSize > 1000000) {
    throw InputError("tokenizer vocabulary " + std::to_string(options.vocabSize) +
                     " is out of range: allowed 8..1000000");
  }
  std::unordered_map<std::string, std::string> args{
      {"model_type", options.modelType},
      {"vocab_size", std::to_string(options.vocabSize)},
      {"character_coverage", std::to_string(options.characterCoverage)},
      {"num_threads", std::to_string(options.threads)},
      {"bos_id", "0"},
      {"pad_id", "1"},
      {"eos_id", "2"},
      {"unk_id", "3"},
      // Small corpora may not support the asked vocabulary; take what they support.
      {"hard_vocab_limit", "false"},
      {"max_sentence_length", "8192"},
      {"minloglevel", "2"},
  };
  if (!options.userSymbols.empty()) args["user_defined_symbols"] = joined(options.userSymbols);
  sentencepiece::SetRandomGeneratorSeed(1);
  VectorSentences iterator(sentences);
  std::string model;
  auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator, &model);
  if (!status.ok()) throw InputError("SentencePiece training failed: " + status.ToString());
  return model;
}

}  // namespace moeprof::text
