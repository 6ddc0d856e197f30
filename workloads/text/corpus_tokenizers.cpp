// The corpus' tokenizers: one SentencePiece model for the LM domains, one shared by English and
// the MT target languages (with a language tag per language), trained on the train splits.
#include <set>
#include <thread>

#include "collector/atomic_file.h"
#include "workloads/text/corpus_parts.h"
#include "workloads/text/text_normalize.h"
#include "workloads/text/tokenizer.h"

namespace moeprof::text::detail {

namespace fs = std::filesystem;

namespace {

// Every k-th sentence, so that at most `limit` remain: the same subsample on every machine.
std::vector<std::string> subsample(std::vector<std::string> sentences, int64_t limit) {
  if (limit <= 0 || static_cast<int64_t>(sentences.size()) <= limit) return sentences;
  size_t step = (sentences.size() + limit - 1) / limit;
  std::vector<std::string> kept;
  for (size_t i = 0; i < sentences.size(); i += step) kept.push_back(std::move(sentences[i]));
  return kept;
}

std::vector<std::string> lmSentences(const CorpusText& text) {
  std::vector<std::string> lines;
  for (const auto& [domain, part] : text.lm) {
    for (const auto& d : part.train) {
      size_t start = 0;
      while (start < d.text.size()) {
        size_t end = d.text.find('\n', start);
        if (end == std::string::npos) end = d.text.size();
        if (end > start) lines.push_back(d.text.substr(start, end - start));
        start = end + 1;
      }
    }
  }
  return lines;
}

std::vector<std::string> mtSentences(const CorpusText& text) {
  std::vector<std::string> sentences;
  std::set<std::string> sources;  // English sources shared by the languages count once
  for (const auto& [language, part] : text.mt) {
    for (const auto& p : part.train) {
      if (sources.insert(p.source).second) sentences.push_back(p.source);
      sentences.push_back(p.target);
    }
  }
  return sentences;
}

CorpusTokenizer trainInto(const fs::path& dir, const std::string& name,
                          const std::vector<std::string>& sentences,
                          TokenizerTrainOptions options) {
  std::string model = trainTokenizer(sentences, options);
  std::string relative = "tokenizers/" + name + ".model";
  fs::create_directories(dir / "tokenizers");
  collector::writeFileAtomically(dir / relative, model);
  auto tokenizer = Tokenizer::fromSerialized(model, relative);
  return {{relative, 0, static_cast<int64_t>(model.size()), 0, hex64(fnv1a64(model))},
          tokenizer.vocabSize(),
          options.userSymbols};
}

// Sums tokens over items with `threads` workers, each taking every threads-th item.
template <typename Items, typename Count>
int64_t countTokens(const Items& items, int32_t threads, Count count) {
  std::vector<int64_t> sums(std::max(1, threads), 0);
  std::vector<std::thread> workers;
  for (size_t w = 0; w < sums.size(); ++w) {
    workers.emplace_back([&, w] {
      for (size_t i = w; i < items.size(); i += sums.size()) sums[w] += count(items[i]);
    });
  }
  for (auto& t : workers) t.join();
  int64_t total = 0;
  for (int64_t s : sums) total += s;
  return total;
}

}  // namespace

void addTokenizers(const fs::path& dir, const CorpusText& text, const CorpusBuildOptions& o,
                   CorpusManifest& m) {
  TokenizerTrainOptions lmOptions;
  lmOptions.vocabSize = o.lmVocab;
  lmOptions.threads = o.threads;
  m.tokenizers["lm"] =
      trainInto(dir, "lm", subsample(lmSentences(text), o.maxTokenizerSentences), lmOptions);
  TokenizerTrainOptions mtOptions;
  mtOptions.vocabSize = o.mtVocab;
  mtOptions.threads = o.threads;
  mtOptions.userSymbols.push_back("__en__");
  for (const auto& l : kMtLanguages) mtOptions.userSymbols.push_back("__" + l + "__");
  m.tokenizers["mt"] =
      trainInto(dir, "mt", subsample(mtSentences(text), o.maxTokenizerSentences), mtOptions);

  auto lm = Tokenizer::load(dir / m.tokenizers["lm"].model.file);
  auto mt = Tokenizer::load(dir / m.tokenizers["mt"].model.file);
  auto documentTokens = [&](const LmDocument& d) {
    return static_cast<int64_t>(lm.encode(d.text).size());
  };
  auto pairTokens = [&](const MtPair& p) {
    return static_cast<int64_t>(mt.encode(p.source).size() + mt.encode(p.target).size());
  };
  for (const auto& [d, part] : text.lm) {
    m.lm[d].train.tokens = countTokens(part.train, o.threads, documentTokens);
    m.lm[d].valid.tokens = countTokens(part.valid, o.threads, documentTokens);
  }
  for (const auto& [l, part] : text.mt) {
    m.mt[l].train.tokens = countTokens(part.train, o.threads, pairTokens);
    m.mt[l].valid.tokens = countTokens(part.valid, o.threads, pairTokens);
  }
}

}  // namespace moeprof::text::detail
