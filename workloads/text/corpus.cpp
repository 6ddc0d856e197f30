#include "workloads/text/corpus.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

#include "collector/atomic_file.h"
#include "collector/cache_directory.h"
#include "collector/errors.h"
#include "workloads/text/corpus_parts.h"
#include "workloads/text/text_normalize.h"
#include "workloads/text/tokenizer.h"

namespace moeprof::text {

namespace fs = std::filesystem;
using namespace detail;

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string readWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

nlohmann::json optionsJson(const CorpusBuildOptions& o) {
  return {{"builder_version", kBuilderVersion},
          {"max_domain_bytes", o.maxDomainBytes},
          {"max_document_bytes", o.maxDocumentBytes},
          {"tokenizers", o.trainTokenizers},
          {"lm_vocab", o.lmVocab},
          {"mt_vocab", o.mtVocab},
          {"max_tokenizer_sentences", o.maxTokenizerSentences},
          {"lm_valid_percent", kLmValidPercent},
          {"mt_valid_percent", kMtValidPercent}};
}

struct Sources {
  std::map<std::string, std::vector<SourceFile>> lm, mt;
  std::string fingerprint;
};

// Every source file's path, size and modification time, with the options: any change to what
// would be read, or how, changes the fingerprint.
Sources findSources(const CorpusBuildOptions& o) {
  Sources s;
  uint64_t h = fnv1a64(optionsJson(o).dump());
  auto add = [&h](const std::vector<SourceFile>& files) {
    for (const auto& f : files) {
      h = fnv1a64(f.key + '\0' + std::to_string(f.bytes) + '\0' + std::to_string(f.mtimeNs) + '\n',
                  h);
    }
  };
  for (const auto& d : kLmDomains) {
    s.lm[d] = lmSourceFiles(o.root, d);
    h = fnv1a64("lm:" + d + '\n', h);
    add(s.lm[d]);
  }
  for (const auto& l : kMtLanguages) {
    s.mt[l] = mtSourceFiles(o.root, l);
    h = fnv1a64("mt:" + l + '\n', h);
    add(s.mt[l]);
  }
  s.fingerprint = hex64(h);
  return s;
}

void requireSources(const Sources& s, const fs::path& root) {
  auto missing = [&](const std::string& what, const std::string& where) {
    throw InputError("no " + what + " source files under '" + (root / where).string() +
                     "': install the packages that ship them, or build a root of Debian packages "
                     "with scripts/corpus_sources.sh and pass --root (Debian images may exclude "
                     "/usr/share/man and /usr/share/locale through /etc/dpkg/dpkg.cfg.d)");
  };
  const char* lmWhere[] = {"usr/share/man", "usr/include", "usr/share/common-licenses"};
  for (size_t i = 0; i < kLmDomains.size(); ++i) {
    if (s.lm.at(kLmDomains[i]).empty()) missing("LM " + kLmDomains[i], lmWhere[i]);
  }
  for (const auto& l : kMtLanguages) {
    if (s.mt.at(l).empty()) missing("MT " + l, "usr/share/locale/" + l + "/LC_MESSAGES");
  }
}

// The reason the corpus at `out` cannot be reused, or empty when it can.
std::string staleReason(const fs::path& out, const std::string& fingerprint) {
  CorpusManifest m;
  try {
    m = readCorpusManifest(out);
  } catch (const InputError& e) {
    return e.what();
  }
  if (m.fingerprint != fingerprint) return "the sources or options changed";
  auto check = [&](const CorpusFile& f) {
    return fs::exists(out / f.file) && hex64(fnv1a64(readWhole(out / f.file))) == f.fnv1a64;
  };
  for (const auto* parts : {&m.lm, &m.mt}) {
    for (const auto& [name, p] : *parts) {
      if (!check(p.train) || !check(p.valid))
        return "a file of " + name + " no longer matches its hash";
    }
  }
  for (const auto& [name, t] : m.tokenizers) {
    if (!check(t.model)) return "tokenizer " + name + " no longer matches its hash";
  }
  return "";
}

CorpusFile writePartFile(const fs::path& dir, const std::string& relative, const std::string& text,
                         int64_t items) {
  fs::create_directories((dir / relative).parent_path());
  collector::writeFileAtomically(dir / relative, text);
  return {relative, items, static_cast<int64_t>(text.size()), 0, hex64(fnv1a64(text))};
}

}  // namespace

fs::path defaultCorpusDirectory() {
  return collector::moeprofCacheDirectory() / "corpus";
}

namespace {

CorpusText buildText(const Sources& s, const CorpusBuildOptions& o, const CorpusProgress& progress,
                     std::vector<std::string>& warnings) {
  CorpusText text;
  for (const auto& d : kLmDomains) {
    if (progress) progress("lm " + d + ": " + std::to_string(s.lm.at(d).size()) + " files");
    text.lm[d] = buildLmPart(s.lm.at(d), d, o);
  }
  for (const auto& l : kMtLanguages) {
    if (progress) progress("mt " + l + ": " + std::to_string(s.mt.at(l).size()) + " catalogs");
    text.mt[l] = buildMtPart(s.mt.at(l));
    for (const auto& w : text.mt[l].warnings) warnings.push_back(w);
  }
  return text;
}

void writeParts(const fs::path& dir, const CorpusText& text, CorpusManifest& m) {
  for (const auto& [d, part] : text.lm) {
    auto& p = m.lm[d];
    p.train = writePartFile(dir, "lm/" + d + ".train.jsonl", lmJsonLines(part.train),
                            static_cast<int64_t>(part.train.size()));
    p.valid = writePartFile(dir, "lm/" + d + ".valid.jsonl", lmJsonLines(part.valid),
                            static_cast<int64_t>(part.valid.size()));
    p.sources = part.sources;
    p.dropped = part.dropped;
  }
  for (const auto& [l, part] : text.mt) {
    auto& p = m.mt[l];
    p.train = writePartFile(dir, "mt/" + l + ".train.jsonl", mtJsonLines(part.train),
                            static_cast<int64_t>(part.train.size()));
    p.valid = writePartFile(dir, "mt/" + l + ".valid.jsonl", mtJsonLines(part.valid),
                            static_cast<int64_t>(part.valid.size()));
    p.sources = part.sources;
    p.dropped = part.dropped;
  }
}

void checkOut(const CorpusBuildOptions& o) {
  if (o.out.empty()) throw InputError("--out is required: the corpus directory to write");
  if (fs::exists(o.out) && !fs::is_directory(o.out)) {
    throw InputError("--out '" + o.out.string() + "' exists and is not a directory");
  }
  if (!o.force && fs::is_directory(o.out) && !fs::is_empty(o.out) &&
      !fs::exists(o.out / kCorpusManifestFileName)) {
    throw InputError("--out '" + o.out.string() + "' holds files but no corpus (" +
                     kCorpusManifestFileName + "); choose an empty directory or pass --force");
  }
  if (!fs::is_directory(o.root)) {
    throw InputError("--root '" + o.root.string() + "' is not a directory");
  }
}

// Swaps the finished build in: the old corpus moves aside first, so `out` is never half written.
void replaceDirectory(const fs::path& built, const fs::path& out) {
  fs::path old = out.string() + ".old-" + std::to_string(getpid());
  fs::remove_all(old);
  if (fs::exists(out)) fs::rename(out, old);
  fs::rename(built, out);
  fs::remove_all(old);
}

}  // namespace

CorpusBuildResult buildCorpus(const CorpusBuildOptions& o, const CorpusProgress& progress) {
  checkOut(o);
  auto start = Clock::now();
  Sources sources = findSources(o);
  CorpusBuildResult result;
  if (fs::exists(o.out / kCorpusManifestFileName)) {
    result.reason = o.force ? "--force" : staleReason(o.out, sources.fingerprint);
    if (result.reason.empty()) {
      result.manifest = readCorpusManifest(o.out);
      result.reused = true;
      result.reason = "fingerprint " + sources.fingerprint + " and every file's hash match";
      return result;
    }
  } else {
    result.reason = "no corpus yet";
  }
  requireSources(sources, o.root);
  if (!o.out.parent_path().empty()) fs::create_directories(o.out.parent_path());
  fs::path building = o.out.string() + ".building-" + std::to_string(getpid());
  fs::remove_all(building);
  fs::create_directories(building);
  try {
    CorpusManifest& m = result.manifest;
    m.root = fs::absolute(o.root).lexically_normal().string();
    m.fingerprint = sources.fingerprint;
    m.packages = rootPackages(o.root);
    m.options = optionsJson(o);
    CorpusText text = buildText(sources, o, progress, result.warnings);
    result.textSeconds = secondsSince(start);
    writeParts(building, text, m);
    auto tokenizerStart = Clock::now();
    if (o.trainTokenizers) {
      if (progress) progress("training tokenizers");
      addTokenizers(building, text, o, m);
    }
    result.tokenizerSeconds = secondsSince(tokenizerStart);
    writeCorpusManifest(building, m);
    replaceDirectory(building, o.out);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(building, ignored);
    throw;
  }
  return result;
}

namespace {

std::vector<nlohmann::json> readJsonLines(const fs::path& corpusDir, const std::string& relative) {
  std::ifstream in(corpusDir / relative);
  if (!in) {
    throw InputError("the corpus at '" + corpusDir.string() + "' has no " + relative +
                     " (build it with `moeprof corpus`)");
  }
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) {
    auto row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_discarded() || !row.is_object()) {
      throw InputError("corpus file '" + (corpusDir / relative).string() + "' line " +
                       std::to_string(rows.size() + 1) + " is not a JSON object");
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void requireSplit(const std::string& split) {
  if (split != "train" && split != "valid") {
    throw InputError("corpus split '" + split + "' is not one of: train, valid");
  }
}

}  // namespace

std::vector<std::string> readLmDocuments(const fs::path& corpusDir, const std::string& domain,
                                         const std::string& split) {
  requireSplit(split);
  if (std::find(kLmDomains.begin(), kLmDomains.end(), domain) == kLmDomains.end()) {
    throw InputError("--domain '" + domain + "' is not one of: prose, code, license");
  }
  std::vector<std::string> documents;
  for (const auto& row : readJsonLines(corpusDir, "lm/" + domain + "." + split + ".jsonl")) {
    documents.push_back(row.value("text", ""));
  }
  return documents;
}

std::vector<MtPair> readMtPairs(const fs::path& corpusDir, const std::string& language,
                                const std::string& split) {
  requireSplit(split);
  if (std::find(kMtLanguages.begin(), kMtLanguages.end(), language) == kMtLanguages.end()) {
    throw InputError("--lang '" + language + "' is not one of: fr, ja, ast");
  }
  std::vector<MtPair> pairs;
  for (const auto& row : readJsonLines(corpusDir, "mt/" + language + "." + split + ".jsonl")) {
    pairs.push_back({row.value("src", ""), row.value("tgt", ""), row.value("catalog", ""),
                     row.value("context", "")});
  }
  return pairs;
}

}  // namespace moeprof::text
