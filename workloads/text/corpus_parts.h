#pragma once
// Internals of the corpus builder shared by its LM, MT and orchestration files.
#include <map>
#include <string>
#include <vector>

#include "workloads/text/corpus.h"
#include "workloads/text/corpus_sources.h"

namespace moeprof::text::detail {

inline constexpr int kBuilderVersion = 2;  // bump when the output for the same sources changes
inline constexpr int kLmValidPercent = 5;
inline constexpr int kMtValidPercent = 10;

struct LmDocument {
  std::string key;
  std::string text;
};

// A domain's or language's kept items in split order, and the counts of what was dropped.
struct LmPartText {
  std::vector<LmDocument> train, valid;
  int64_t sources = 0;
  std::map<std::string, int64_t> dropped;
};
struct MtPartText {
  std::vector<MtPair> train, valid;
  int64_t sources = 0;
  std::map<std::string, int64_t> dropped;
  std::vector<std::string> warnings;  // malformed catalogs, named
};

LmPartText buildLmPart(const std::vector<SourceFile>& files, const std::string& domain,
                       const CorpusBuildOptions& options);
MtPartText buildMtPart(const std::vector<SourceFile>& files);

struct CorpusText {
  std::map<std::string, LmPartText> lm;
  std::map<std::string, MtPartText> mt;
};

// Trains the LM and MT tokenizers on the train splits into DIR/tokenizers/, records them in the
// manifest and counts every split's tokens into it (the parts must already be in it).
void addTokenizers(const std::filesystem::path& dir, const CorpusText& text,
                   const CorpusBuildOptions& options, CorpusManifest& manifest);

// One JSON object per line: {"path","text"} for LM, {"src","tgt","catalog","context"} for MT.
std::string lmJsonLines(const std::vector<LmDocument>& documents);
std::string mtJsonLines(const std::vector<MtPair>& pairs);

}  // namespace moeprof::text::detail
