#include "workloads/text/text_input.h"

#include <fstream>
#include <sstream>

#include "collector/errors.h"
#include "workloads/text/corpus.h"
#include "workloads/text/corpus_sources.h"
#include "workloads/text/text_normalize.h"
#include "workloads/text/tokenizer.h"

namespace moeprof::text {

namespace fs = std::filesystem;

namespace {

fs::path corpusDirectory(const TextInput& input) {
  return input.corpus.empty() ? defaultCorpusDirectory() : input.corpus;
}

fs::path tokenizerPath(const TextInput& input, bool mt) {
  if (!input.tokenizer.empty()) return input.tokenizer;
  fs::path model = corpusDirectory(input) / "tokenizers" / (mt ? "mt.model" : "lm.model");
  if (!fs::exists(model)) {
    throw InputError("no --tokenizer given and the corpus has no " + model.string() +
                     ": build it with `moeprof corpus` or pass --tokenizer MODEL");
  }
  return model;
}

void requireOneOf(const std::string& flag, const std::string& value,
                  const std::vector<std::string>& allowed) {
  for (const auto& a : allowed) {
    if (a == value) return;
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  throw InputError(flag + " '" + value + "' is not one of: " + list);
}

std::string readTextFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("cannot read --text file '" + file.string() + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (!isValidUtf8(text)) throw InputError("--text file '" + file.string() + "' is not UTF-8");
  return text;
}

// Paragraphs (LM) or lines (MT) of a text file, blank ones skipped.
std::vector<std::string> textUnits(const std::string& text, bool lines) {
  std::vector<std::string> units;
  std::istringstream in(text);
  std::string current;
  for (std::string line; std::getline(in, line);) {
    bool blank = line.find_first_not_of(" \t\r") == std::string::npos;
    if (lines || blank) {
      if (!current.empty()) units.push_back(std::move(current));
      current.clear();
      if (!blank) units.push_back(line);
      continue;
    }
    current += (current.empty() ? "" : "\n") + line;
  }
  if (!current.empty()) units.push_back(std::move(current));
  return units;
}

}  // namespace

void checkTextInput(const TextInput& input, bool mt, int64_t modelVocab, bool tokensFileGiven) {
  if (!input.given()) {
    if (!input.tokenizer.empty() || !input.corpus.empty()) {
      throw InputError("--tokenizer and --corpus need --text, --domain (lm) or --lang (mt)");
    }
    return;
  }
  if (tokensFileGiven) throw InputError("--tokens and --text/--domain/--lang exclude each other");
  if (!input.domain.empty()) {
    if (mt) throw InputError("--domain applies to lm presets; use --lang for mt");
    if (!input.textFile.empty()) throw InputError("--text and --domain exclude each other");
    requireOneOf("--domain", input.domain, kLmDomains);
  }
  if (!input.language.empty()) {
    if (!mt) throw InputError("--lang applies to mt presets; use --domain for lm");
    requireOneOf("--lang", input.language, kMtLanguages);
  }
  if (!input.textFile.empty() && !fs::is_regular_file(input.textFile)) {
    throw InputError("--text '" + input.textFile.string() + "' is not a readable file");
  }
  auto tokenizer = Tokenizer::load(tokenizerPath(input, mt));
  if (tokenizer.vocabSize() > modelVocab) {
    throw InputError("the tokenizer's vocabulary (" + std::to_string(tokenizer.vocabSize()) +
                     ") is larger than the model's (" + std::to_string(modelVocab) +
                     "): choose a preset with a vocabulary of at least " +
                     std::to_string(tokenizer.vocabSize()) + " or a smaller tokenizer");
  }
  if (mt && !input.language.empty() && tokenizer.pieceId("__" + input.language + "__") < 0) {
    throw InputError("the tokenizer has no language tag __" + input.language + "__ for --lang " +
                     input.language);
  }
}

// The units encoded one after another, each led by `tag` and followed by EOS (where >= 0).
std::vector<int64_t> encodeUnits(const Tokenizer& tokenizer, const std::vector<std::string>& units,
                                 int32_t tag, int64_t maxTokens) {
  const int32_t eos = tokenizer.specialIds().eos;
  std::vector<int64_t> ids;
  for (const auto& unit : units) {
    if (static_cast<int64_t>(ids.size()) >= maxTokens) break;
    if (tag >= 0) ids.push_back(tag);
    for (int32_t id : tokenizer.encode(unit)) ids.push_back(id);
    if (eos >= 0) ids.push_back(eos);
  }
  if (ids.empty()) throw InputError("the text input holds no text to tokenize");
  if (static_cast<int64_t>(ids.size()) > maxTokens) ids.resize(maxTokens);
  return ids;
}

std::vector<int64_t> textTokenStream(const TextInput& input, bool mt, int64_t maxTokens) {
  auto tokenizer = Tokenizer::load(tokenizerPath(input, mt));
  std::vector<std::string> units;
  if (!input.textFile.empty()) {
    units = textUnits(readTextFile(input.textFile), mt);
  } else if (mt) {
    for (auto& p : readMtPairs(corpusDirectory(input), input.language, "valid")) {
      units.push_back(std::move(p.source));
    }
  } else {
    units = readLmDocuments(corpusDirectory(input), input.domain, "valid");
  }
  int32_t tag =
      mt && !input.language.empty() ? tokenizer.pieceId("__" + input.language + "__") : -1;
  return encodeUnits(tokenizer, units, tag, maxTokens);
}

std::vector<int64_t> referenceTokenStream(const TextInput& input, int64_t maxTokens) {
  if (input.language.empty()) {
    throw InputError("--decode reference needs --lang (the references of the corpus' pairs)");
  }
  auto tokenizer = Tokenizer::load(tokenizerPath(input, true));
  std::vector<std::string> references;
  for (auto& p : readMtPairs(corpusDirectory(input), input.language, "valid")) {
    references.push_back(std::move(p.target));
  }
  return encodeUnits(tokenizer, references, -1, maxTokens);
}

fs::path tokenizerFor(const TextInput& input, bool mt) {
  return tokenizerPath(input, mt);
}

nlohmann::json textInputJson(const TextInput& input) {
  if (!input.given()) return nullptr;
  return {{"text_file", input.textFile.string()},
          {"tokenizer", input.tokenizer.string()},
          {"domain", input.domain},
          {"lang", input.language},
          {"corpus", input.corpus.string()}};
}

}  // namespace moeprof::text
