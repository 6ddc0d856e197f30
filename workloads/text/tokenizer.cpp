#include "workloads/text/tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "collector/errors.h"
#include "workloads/text/sentencepiece_shim.h"

namespace moeprof::text {

namespace fs = std::filesystem;

// The module's functions, resolved once per load; dlopen counts references, so every Tokenizer
// may hold its own without global state.
struct SentencePieceModule {
  void* handle = nullptr;
  decltype(&moeprof_spm_load) load = nullptr;
  decltype(&moeprof_spm_free) free = nullptr;
  decltype(&moeprof_spm_info) info = nullptr;
  decltype(&moeprof_spm_piece_id) pieceId = nullptr;
  decltype(&moeprof_spm_encode) encode = nullptr;
  decltype(&moeprof_spm_decode) decode = nullptr;
  decltype(&moeprof_spm_train) train = nullptr;
  ~SentencePieceModule() {
    if (handle) dlclose(handle);
  }
};

namespace {

constexpr size_t kErrorBytes = 1024;

// Where the module is: $MOEPROF_SENTENCEPIECE_MODULE, beside the executable, or where the
// build put it.
std::vector<fs::path> moduleCandidates() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("MOEPROF_SENTENCEPIECE_MODULE"); env && *env) {
    candidates.emplace_back(env);
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / "libmoeprof_sentencepiece.so");
#ifdef MOEPROF_SENTENCEPIECE_MODULE_PATH
  candidates.emplace_back(MOEPROF_SENTENCEPIECE_MODULE_PATH);
#endif
  return candidates;
}

int openFlags() {
  int flags = RTLD_NOW | RTLD_LOCAL;
#if !defined(__SANITIZE_ADDRESS__)
  flags |= RTLD_DEEPBIND;  // AddressSanitizer refuses it; see sentencepiece_shim.h
#endif
  return flags;
}

template <typename F>
void resolve(SentencePieceModule& m, F& function, const char* name) {
  function = reinterpret_cast<F>(dlsym(m.handle, name));
  if (!function) throw std::runtime_error(std::string("libmoeprof_sentencepiece.so lacks ") + name);
}

std::shared_ptr<const SentencePieceModule> loadModule() {
  auto m = std::make_shared<SentencePieceModule>();
  std::string tried;
  for (const auto& path : moduleCandidates()) {
    if (!fs::exists(path)) continue;
    m->handle = dlopen(path.c_str(), openFlags());
    if (m->handle) break;
    tried += std::string(" ") + dlerror();
  }
  if (!m->handle) {
    throw std::runtime_error(
        "cannot load libmoeprof_sentencepiece.so (SentencePiece; set "
        "MOEPROF_SENTENCEPIECE_MODULE to its path)" +
        tried);
  }
  resolve(*m, m->load, "moeprof_spm_load");
  resolve(*m, m->free, "moeprof_spm_free");
  resolve(*m, m->info, "moeprof_spm_info");
  resolve(*m, m->pieceId, "moeprof_spm_piece_id");
  resolve(*m, m->encode, "moeprof_spm_encode");
  resolve(*m, m->decode, "moeprof_spm_decode");
  resolve(*m, m->train, "moeprof_spm_train");
  decltype(&moeprof_spm_abi_version) version = nullptr;
  resolve(*m, version, "moeprof_spm_abi_version");
  if (version() != kMoeprofSpmAbiVersion) {
    throw std::runtime_error("libmoeprof_sentencepiece.so is from another moeprof version");
  }
  return m;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const SentencePieceModule> module, void* processor)
    : module_(std::move(module)), processor_(processor) {}

Tokenizer::Tokenizer(Tokenizer&& other) noexcept
    : module_(std::move(other.module_)), processor_(std::exchange(other.processor_, nullptr)) {}

Tokenizer& Tokenizer::operator=(Tokenizer&& other) noexcept {
  if (this != &other) {
    if (processor_) module_->free(processor_);
    module_ = std::move(other.module_);
    processor_ = std::exchange(other.processor_, nullptr);
  }
  return *this;
}

Tokenizer::~Tokenizer() {
  if (processor_) module_->free(processor_);
}

Tokenizer Tokenizer::load(const fs::path& model) {
  std::ifstream in(model, std::ios::binary);
  if (!in) throw InputError("cannot read tokenizer model '" + model.string() + "'");
  std::stringstream bytes;
  bytes << in.rdbuf();
  return fromSerialized(bytes.str(), model.string());
}

Tokenizer Tokenizer::fromSerialized(const std::string& modelBytes, const std::string& name) {
  auto module = loadModule();
  std::array<char, kErrorBytes> error{};
  void* processor = module->load(modelBytes.data(), modelBytes.size(), error.data(), error.size());
  if (!processor) {
    throw InputError("'" + name + "' is not a SentencePiece model: " + error.data());
  }
  return Tokenizer(std::move(module), processor);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::array<char, kErrorBytes> error{};
  int* ids = nullptr;
  size_t count = 0;
  if (module_->encode(processor_, text.data(), text.size(), &ids, &count, error.data(),
                      error.size())) {
    throw std::runtime_error(std::string("SentencePiece encode failed: ") + error.data());
  }
  std::vector<int32_t> out(ids, ids + count);
  std::free(ids);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  int32_t size = vocabSize();
  for (int32_t id : ids) {
    if (id < 0 || id >= size) {
      throw InputError("token id " + std::to_string(id) +
                       " is outside the tokenizer's vocabulary [0, " + std::to_string(size) + ")");
    }
  }
  std::vector<int> checked(ids.begin(), ids.end());
  std::array<char, kErrorBytes> error{};
  char* text = nullptr;
  size_t bytes = 0;
  if (module_->decode(processor_, checked.data(), checked.size(), &text, &bytes, error.data(),
                      error.size())) {
    throw std::runtime_error(std::string("SentencePiece decode failed: ") + error.data());
  }
  std::string out(text, bytes);
  std::free(text);
  return out;
}

int32_t Tokenizer::vocabSize() const {
  return static_cast<int32_t>(specialIds().size);
}

SpecialIds Tokenizer::specialIds() const {
  int pieces = 0, bos = -1, eos = -1, pad = -1, unk = -1;
  module_->info(processor_, &pieces, &bos, &eos, &pad, &unk);
  return {bos, eos, pad, unk, pieces};
}

int32_t Tokenizer::pieceId(std::string_view piece) const {
  return module_->pieceId(processor_, piece.data(), piece.size());
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
  std::vector<std::pair<std::string, std::string>> args{
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
  if (!options.userSymbols.empty())
    args.emplace_back("user_defined_symbols", joined(options.userSymbols));
  std::vector<const char*> keys, values, texts;
  std::vector<size_t> bytes;
  for (const auto& [k, v] : args) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  for (const auto& s : sentences) {
    texts.push_back(s.data());
    bytes.push_back(s.size());
  }
  auto module = loadModule();
  std::array<char, kErrorBytes> error{};
  char* model = nullptr;
  size_t modelBytes = 0;
  if (module->train(texts.data(), bytes.data(), texts.size(), keys.data(), values.data(),
                    keys.size(), &model, &modelBytes, error.data(), error.size())) {
    throw InputError(std::string("SentencePiece training failed: ") + error.data());
  }
  std::string out(model, modelBytes);
  std::free(model);
  return out;
}

}  // namespace moeprof::text
