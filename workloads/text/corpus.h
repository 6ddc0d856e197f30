#pragma once
// The real-text corpora of moeprof, built reproducibly from files every Debian machine has (or
// gets from Debian's packages): an LM corpus in three domains (prose from manual pages, code
// from C/C++ headers, license texts) and an MT corpus of English -> fr, ja, ast sentence pairs
// from gettext catalogs; each split into train and validation, with SentencePiece tokenizers
// trained on the train splits. Everything lands in one cache directory with a manifest.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "workloads/text/corpus_manifest.h"

namespace moeprof::text {

struct CorpusBuildOptions {
  std::filesystem::path root = "/";      // where usr/share/man, usr/include, ... are looked up
  std::filesystem::path out;             // the corpus directory
  bool force = false;                    // rebuild even when the cache is up to date
  int64_t maxDomainBytes = 32ll << 20;   // LM text kept per domain (documents taken by hash)
  int64_t maxDocumentBytes = 1ll << 20;  // larger source files are skipped (generated code)
  bool trainTokenizers = true;
  int32_t lmVocab = 4096;
  int32_t mtVocab = 8192;
  int64_t maxTokenizerSentences = 100000;  // a deterministic subsample beyond this
  int32_t threads = 2;
};

struct CorpusBuildResult {
  CorpusManifest manifest;
  bool reused = false;     // the cache was up to date; nothing was rebuilt
  std::string reason;      // why it was rebuilt (or reused)
  double textSeconds = 0;  // reading and cleaning the sources
  double tokenizerSeconds = 0;
  std::vector<std::string> warnings;  // catalogs skipped as malformed or unconvertible
};

using CorpusProgress = std::function<void(const std::string&)>;

// Builds the corpus into options.out, or reuses it when its manifest has the same fingerprint
// and every file still has its recorded hash. Writes into a temporary directory beside `out`
// and swaps it in at the end, so an interrupted build leaves the old corpus. Throws InputError
// when `out` holds something that is not a corpus (unless force) or a domain or language has no
// source files under the root (naming the folder and scripts/corpus_sources.sh).
CorpusBuildResult buildCorpus(const CorpusBuildOptions& options,
                              const CorpusProgress& progress = {});

// $MOEPROF_CACHE_DIR/corpus, else $XDG_CACHE_HOME/moeprof/corpus, else ~/.cache/moeprof/corpus.
std::filesystem::path defaultCorpusDirectory();

// One English -> target pair of the MT corpus.
struct MtPair {
  std::string source;
  std::string target;
  std::string catalog;  // the .mo file it came from, without extension
  std::string context;  // msgctxt, usually empty
};

// Readers of a built corpus' split files ("train" or "valid"); throw InputError naming the
// domain/language and split when the corpus lacks them.
std::vector<std::string> readLmDocuments(const std::filesystem::path& corpusDir,
                                         const std::string& domain, const std::string& split);
std::vector<MtPair> readMtPairs(const std::filesystem::path& corpusDir, const std::string& language,
                                const std::string& split);

}  // namespace moeprof::text
