#pragma once
// manifest.json of a built corpus: what it was built from (root, packages, a fingerprint of
// every source file), what each split file holds (documents or pairs, bytes, tokens, content
// hash) and the tokenizers trained on it. Versioned; a reader rejects other versions.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moeprof::text {

inline constexpr int kCorpusSchemaVersion = 1;
inline constexpr const char* kCorpusManifestFileName = "manifest.json";

// One file of the corpus (a split of a domain or language, or a tokenizer model).
struct CorpusFile {
  std::string file;     // relative to the corpus directory
  int64_t items = 0;    // documents (LM) or pairs (MT); 0 for a tokenizer model
  int64_t bytes = 0;    // of the file
  int64_t tokens = 0;   // under the corpus' tokenizer (LM: text; MT: source + target)
  std::string fnv1a64;  // of the file's contents
};

// Counts of what the builder read for one domain or language and why it dropped what it did.
struct CorpusPart {
  CorpusFile train;
  CorpusFile valid;
  int64_t sources = 0;                     // files read (documents or catalogs)
  std::map<std::string, int64_t> dropped;  // reason -> count
};

struct CorpusTokenizer {
  CorpusFile model;
  int64_t vocab = 0;
  std::vector<std::string> userSymbols;
};

struct CorpusManifest {
  int schemaVersion = kCorpusSchemaVersion;
  std::string root;
  std::string fingerprint;            // of the builder's version and options and every source file
  std::vector<std::string> packages;  // "name version" lines of ROOT/PACKAGES, when present
  nlohmann::json options;
  std::map<std::string, CorpusPart> lm;               // domain -> part
  std::map<std::string, CorpusPart> mt;               // target language -> part
  std::map<std::string, CorpusTokenizer> tokenizers;  // "lm", "mt"
};

nlohmann::json toJson(const CorpusManifest& manifest);
// Throws InputError naming the file and what is wrong (schema version, a missing field).
CorpusManifest corpusManifestFromJson(const nlohmann::json& json, const std::string& name);
CorpusManifest readCorpusManifest(const std::filesystem::path& corpusDir);
void writeCorpusManifest(const std::filesystem::path& corpusDir, const CorpusManifest& manifest);

}  // namespace moeprof::text
