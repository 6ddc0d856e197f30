// libmoeprof_sentencepiece.so: SentencePiece behind a C interface (see sentencepiece_shim.h).
#include "workloads/text/sentencepiece_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

void setError(char* error, size_t errorBytes, const std::string& message) {
  if (!error || errorBytes == 0) return;
  size_t n = std::min(errorBytes - 1, message.size());
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

template <typename Body>
int guarded(char* error, size_t errorBytes, Body body) {
  try {
    std::string message = body();
    if (message.empty()) return 0;
    setError(error, errorBytes, message);
  } catch (const std::exception& e) {
    setError(error, errorBytes, e.what());
  } catch (...) {
    setError(error, errorBytes, "unknown error in SentencePiece");
  }
  return 1;
}

template <typename T>
T* copyOut(const T* data, size_t count) {
  auto* out = static_cast<T*>(std::malloc(std::max<size_t>(1, count * sizeof(T))));
  if (!out) throw std::bad_alloc();
  if (count) std::memcpy(out, data, count * sizeof(T));
  return out;
}

class Sentences : public sentencepiece::SentenceIterator {
 public:
  Sentences(const char* const* sentences, const size_t* bytes, size_t count)
      : sentences_(sentences), bytes_(bytes), count_(count) {
    load();
  }
  bool done() const override { return index_ >= count_; }
  void Next() override {
    ++index_;
    load();
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (index_ < count_) value_.assign(sentences_[index_], bytes_[index_]);
  }
  const char* const* sentences_;
  const size_t* bytes_;
  size_t count_;
  size_t index_ = 0;
  std::string value_;
};

auto* processorOf(void* p) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(p);
}

}  // namespace

extern "C" {

int moeprof_spm_abi_version() {
  return kMoeprofSpmAbiVersion;
}

void* moeprof_spm_load(const char* model, size_t modelBytes, char* error, size_t errorBytes) {
  sentencepiece::SentencePieceProcessor* processor = nullptr;
  int failed = guarded(error, errorBytes, [&]() -> std::string {
    auto p = std::make_unique<sentencepiece::SentencePieceProcessor>();
    auto status = p->LoadFromSerializedProto(std::string_view(model, modelBytes));
    if (!status.ok()) return status.ToString();
    if (p->GetPieceSize() <= 0) return "the model has no pieces";
    processor = p.release();
    return "";
  });
  return failed ? nullptr : processor;
}

void moeprof_spm_free(void* processor) {
  delete processorOf(processor);
}

void moeprof_spm_info(void* processor, int* pieces, int* bos, int* eos, int* pad, int* unk) {
  auto* p = processorOf(processor);
  *pieces = p->GetPieceSize();
  *bos = p->bos_id();
  *eos = p->eos_id();
  *pad = p->pad_id();
  *unk = p->unk_id();
}

int moeprof_spm_piece_id(void* processor, const char* piece, size_t pieceBytes) {
  auto* p = processorOf(processor);
  std::string_view name(piece, pieceBytes);
  int id = p->PieceToId(name);
  // PieceToId answers unk for unknown pieces; only the unknown piece itself maps there.
  return id == p->unk_id() && p->IdToPiece(id) != name ? -1 : id;
}

int moeprof_spm_encode(void* processor, const char* text, size_t textBytes, int** ids,
                       size_t* count, char* error, size_t errorBytes) {
  return guarded(error, errorBytes, [&]() -> std::string {
    std::vector<int> out;
    auto status = processorOf(processor)->Encode(std::string_view(text, textBytes), &out);
    if (!status.ok()) return status.ToString();
    *ids = copyOut(out.data(), out.size());
    *count = out.size();
    return "";
  });
}

int moeprof_spm_decode(void* processor, const int* ids, size_t count, char** text,
                       size_t* textBytes, char* error, size_t errorBytes) {
  return guarded(error, errorBytes, [&]() -> std::string {
    std::string out;
    auto status = processorOf(processor)->Decode(std::vector<int>(ids, ids + count), &out);
    if (!status.ok()) return status.ToString();
    *text = copyOut(out.data(), out.size());
    *textBytes = out.size();
    return "";
  });
}

int moeprof_spm_train(const char* const* sentences, const size_t* sentenceBytes, size_t count,
                      const char* const* keys, const char* const* values, size_t flags,
                      char** model, size_t* modelBytes, char* error, size_t errorBytes) {
  return guarded(error, errorBytes, [&]() -> std::string {
    std::unordered_map<std::string, std::string> args;
    for (size_t i = 0; i < flags; ++i) args[keys[i]] = values[i];
    sentencepiece::SetRandomGeneratorSeed(1);
    Sentences iterator(sentences, sentenceBytes, count);
    std::string out;
    auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator, &out);
    if (!status.ok()) return status.ToString();
    *model = copyOut(out.data(), out.size());
    *modelBytes = out.size();
    return "";
  });
}
}
