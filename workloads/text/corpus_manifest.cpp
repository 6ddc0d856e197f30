#include "workloads/text/corpus_manifest.h"

#include <fstream>
#include <sstream>

#include "collector/atomic_file.h"
#include "collector/errors.h"

namespace moeprof::text {

namespace {

nlohmann::json fileJson(const CorpusFile& f) {
  return {{"file", f.file},
          {"items", f.items},
          {"bytes", f.bytes},
          {"tokens", f.tokens},
          {"fnv1a64", f.fnv1a64}};
}

CorpusFile fileFromJson(const nlohmann::json& j) {
  return {j.at("file").get<std::string>(), j.at("items").get<int64_t>(),
          j.at("bytes").get<int64_t>(), j.at("tokens").get<int64_t>(),
          j.at("fnv1a64").get<std::string>()};
}

nlohmann::json partsJson(const std::map<std::string, CorpusPart>& parts) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, p] : parts) {
    out[name] = {{"train", fileJson(p.train)},
                 {"valid", fileJson(p.valid)},
                 {"sources", p.sources},
                 {"dropped", p.dropped}};
  }
  return out;
}

std::map<std::string, CorpusPart> partsFromJson(const nlohmann::json& j) {
  std::map<std::string, CorpusPart> parts;
  for (const auto& [name, p] : j.items()) {
    parts[name] = {fileFromJson(p.at("train")), fileFromJson(p.at("valid")),
                   p.at("sources").get<int64_t>(),
                   p.at("dropped").get<std::map<std::string, int64_t>>()};
  }
  return parts;
}

}  // namespace

nlohmann::json toJson(const CorpusManifest& m) {
  nlohmann::json tokenizers = nlohmann::json::object();
  for (const auto& [name, t] : m.tokenizers) {
    tokenizers[name] = {
        {"model", fileJson(t.model)}, {"vocab", t.vocab}, {"user_symbols", t.userSymbols}};
  }
  return {{"schema_version", m.schemaVersion},
          {"kind", "moeprof-corpus"},
          {"sources",
           {{"root", m.root},
            {"fingerprint", m.fingerprint},
            {"packages", m.packages},
            {"options", m.options}}},
          {"lm", partsJson(m.lm)},
          {"mt", partsJson(m.mt)},
          {"tokenizers", tokenizers}};
}

CorpusManifest corpusManifestFromJson(const nlohmann::json& j, const std::string& name) {
  if (!j.is_object() || j.value("kind", "") != "moeprof-corpus") {
    throw InputError("'" + name + "' is not a moeprof corpus manifest (kind moeprof-corpus)");
  }
  int version = j.value("schema_version", 0);
  if (version != kCorpusSchemaVersion) {
    throw InputError("corpus manifest '" + name + "' has schema version " +
                     std::to_string(version) + "; this moeprof reads version " +
                     std::to_string(kCorpusSchemaVersion) +
                     " (rebuild with moeprof corpus --force)");
  }
  try {
    CorpusManifest m;
    m.schemaVersion = version;
    const auto& sources = j.at("sources");
    m.root = sources.at("root").get<std::string>();
    m.fingerprint = sources.at("fingerprint").get<std::string>();
    m.packages = sources.at("packages").get<std::vector<std::string>>();
    m.options = sources.at("options");
    m.lm = partsFromJson(j.at("lm"));
    m.mt = partsFromJson(j.at("mt"));
    for (const auto& [key, t] : j.at("tokenizers").items()) {
      m.tokenizers[key] = {fileFromJson(t.at("model")), t.at("vocab").get<int64_t>(),
                           t.at("user_symbols").get<std::vector<std::string>>()};
    }
    return m;
  } catch (const nlohmann::json::exception& e) {
    throw InputError("corpus manifest '" + name + "' is incomplete or malformed: " + e.what());
  }
}

CorpusManifest readCorpusManifest(const std::filesystem::path& corpusDir) {
  auto path = corpusDir / kCorpusManifestFileName;
  std::ifstream in(path);
  if (!in) {
    throw InputError("no corpus at '" + corpusDir.string() + "' (no " + kCorpusManifestFileName +
                     "); build it with `moeprof corpus`");
  }
  std::stringstream text;
  text << in.rdbuf();
  auto json = nlohmann::json::parse(text.str(), nullptr, false);
  if (json.is_discarded()) throw InputError("corpus manifest '" + path.string() + "' is not JSON");
  return corpusManifestFromJson(json, path.string());
}

void writeCorpusManifest(const std::filesystem::path& corpusDir, const CorpusManifest& manifest) {
  collector::writeFileAtomically(corpusDir / kCorpusManifestFileName,
                                 toJson(manifest).dump(2) + "\n");
}

}  // namespace moeprof::text
