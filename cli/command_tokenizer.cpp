// `moeprof tokenizer train|encode|decode`: SentencePiece models trained on any text, and any
// SentencePiece model (ours, NLLB's, T5's) applied to text or ids.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/app.h"
#include "collector/atomic_file.h"
#include "collector/errors.h"
#include "workloads/text/text_normalize.h"
#include "workloads/text/tokenizer.h"

namespace moeprof::cli {

namespace {

std::string readText(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("cannot read '" + file + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (!text::isValidUtf8(text)) throw InputError("'" + file + "' is not UTF-8 text");
  return text;
}

struct TrainCommand {
  std::vector<std::string> inputs;
  std::string model;
  text::TokenizerTrainOptions options;
  std::string symbols;

  int execute() {
    std::vector<std::string> lines;
    for (const auto& file : inputs) {
      std::istringstream in(readText(file));
      for (std::string line; std::getline(in, line);) {
        if (!line.empty()) lines.push_back(line);
      }
    }
    if (lines.empty()) throw InputError("--input holds no text to train on");
    std::istringstream in(symbols);
    for (std::string s; std::getline(in, s, ',');) {
      if (!s.empty()) options.userSymbols.push_back(s);
    }
    std::string bytes = text::trainTokenizer(lines, options);
    collector::writeFileAtomically(model, bytes);
    auto tokenizer = text::Tokenizer::fromSerialized(bytes, model);
    std::cout << "wrote " << model << ": vocabulary " << tokenizer.vocabSize() << ", trained on "
              << lines.size() << " lines\n";
    return kExitOk;
  }
};

struct CodeCommand {
  std::string model;
  std::string input;
  bool decode = false;

  int execute() const {
    auto tokenizer = text::Tokenizer::load(model);
    std::string text = readText(input);
    if (!decode) {
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);) {
        std::string out;
        for (int32_t id : tokenizer.encode(line))
          out += (out.empty() ? "" : " ") + std::to_string(id);
        std::cout << out << "\n";
      }
      return kExitOk;
    }
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      std::vector<int32_t> ids;
      std::istringstream words(line);
      for (std::string w; words >> w;) {
        size_t used = 0;
        long long id = -1;
        try {
          id = std::stoll(w, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != w.size() || id < 0 || id > INT32_MAX) {
          throw InputError("'" + input + "': '" + w + "' is not a token id");
        }
        ids.push_back(static_cast<int32_t>(id));
      }
      std::cout << tokenizer.decode(ids) << "\n";
    }
    return kExitOk;
  }
};

}  // namespace

Action addTokenizerCommand(CLI::App& app) {
  app.require_subcommand(1);
  auto train = std::make_shared<TrainCommand>();
  CLI::App* t = app.add_subcommand("train", "Train a SentencePiece model on UTF-8 text files");
  t->add_option("--input", train->inputs, "text files (one sentence or line of text per line)")
      ->required();
  t->add_option("--model", train->model, "the .model file to write")->required();
  t->add_option("--vocab", train->options.vocabSize, "vocabulary size")->capture_default_str();
  t->add_option("--type", train->options.modelType, "unigram or bpe")->capture_default_str();
  t->add_option("--symbols", train->symbols,
                "comma-separated pieces kept whole, e.g. __fr__,__ja__");
  t->add_option("--character-coverage", train->options.characterCoverage,
                "share of characters the vocabulary covers")
      ->capture_default_str();
  t->add_option("--threads", train->options.threads, "training threads")->capture_default_str();
  auto encode = std::make_shared<CodeCommand>();
  CLI::App* e = app.add_subcommand("encode", "Print the token ids of each line of a text file");
  e->add_option("--model", encode->model, "a SentencePiece .model file")->required();
  e->add_option("--input", encode->input, "UTF-8 text file")->required();
  auto decode = std::make_shared<CodeCommand>();
  decode->decode = true;
  CLI::App* d = app.add_subcommand("decode", "Print the text of each line of token ids");
  d->add_option("--model", decode->model, "a SentencePiece .model file")->required();
  d->add_option("--input", decode->input, "file of whitespace-separated ids, a sequence a line")
      ->required();
  return [=] {
    if (t->parsed()) return train->execute();
    if (e->parsed()) return encode->execute();
    return decode->execute();
  };
}

}  // namespace moeprof::cli
