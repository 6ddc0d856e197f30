#pragma once
// Real text as a run's input (`moeprof run --text FILE | --domain D | --lang L`): which text,
// which tokenizer, and the token id stream the workload's batches are cut from.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moeprof::text {

struct TextInput {
  std::filesystem::path textFile;   // --text: UTF-8 text; empty: the corpus' validation split
  std::filesystem::path tokenizer;  // --tokenizer: a SentencePiece model; empty: the corpus'
  std::string domain;               // --domain (LM): prose, code or license
  std::string language;             // --lang (MT): fr, ja or ast
  std::filesystem::path corpus;     // --corpus: empty means defaultCorpusDirectory()
  bool given() const { return !textFile.empty() || !domain.empty() || !language.empty(); }
};

// Checks the combination against the workload and the model's vocabulary before anything runs:
// --domain only for LM, --lang only for MT, not with --tokens, and a tokenizer no larger than
// the model's vocabulary. Throws InputError naming the value and what is allowed.
void checkTextInput(const TextInput& input, bool mt, int64_t modelVocab, bool tokensFileGiven);

// The ids the batches are cut from, at most `maxTokens`: each document (a paragraph of --text,
// or a validation document of --domain) or source sentence (a line of --text, or the English
// side of a validation pair of --lang) encoded and followed by EOS. For MT with --lang each
// source starts with the target language's tag (__fr__), as in multilingual NMT.
std::vector<int64_t> textTokenStream(const TextInput& input, bool mt, int64_t maxTokens);

// MT with --lang: the target sides (references) of the same validation pairs, each encoded and
// followed by EOS, without a tag (the decoder's side in training), at most `maxTokens`.
std::vector<int64_t> referenceTokenStream(const TextInput& input, int64_t maxTokens);

nlohmann::json textInputJson(const TextInput& input);  // for run.json's config

// The SentencePiece model the text is tokenized with: --tokenizer, else the corpus' own for the
// workload. Throws InputError when neither exists.
std::filesystem::path tokenizerFor(const TextInput& input, bool mt);

}  // namespace moeprof::text
