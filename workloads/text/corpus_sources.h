#pragma once
// Where the corpus builder finds its text under a root directory (the system's `/`, or a tree
// of Debian packages extracted by scripts/corpus_sources.sh, or a test's fake tree): which files
// belong to which LM domain or MT language, read in a deterministic order.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace moeprof::text {

// The LM domains (like the paper's Wikipedia / PubMed / GitHub) and the MT target languages.
inline const std::vector<std::string> kLmDomains{"prose", "code", "license"};
inline const std::vector<std::string> kMtLanguages{"fr", "ja", "ast"};

struct SourceFile {
  std::filesystem::path path;  // absolute (under the root)
  std::string key;             // path relative to the root: stable across roots
  int64_t bytes = 0;
  int64_t mtimeNs = 0;
};

// Regular files (never symbolic links) of a domain or language, sorted by key.
// prose: usr/share/man/man*/ pages (English; .gz too); code: C and C++ sources and headers
// under usr/include; license: usr/share/common-licenses/* and usr/share/doc/*/copyright.
// Languages: usr/share/locale/LANG/LC_MESSAGES/*.mo.
std::vector<SourceFile> lmSourceFiles(const std::filesystem::path& root, const std::string& domain);
std::vector<SourceFile> mtSourceFiles(const std::filesystem::path& root,
                                      const std::string& language);

// The file's bytes, inflated when it ends in .gz; throws InputError when it cannot be read or
// inflates past `maxBytes`.
std::string readSourceFile(const SourceFile& file, int64_t maxBytes);

// Lines of ROOT/PACKAGES ("name version", written by scripts/corpus_sources.sh), if present.
std::vector<std::string> rootPackages(const std::filesystem::path& root);

}  // namespace moeprof::text
