// The MT half of the corpus builder: English -> target pairs from the gettext catalogs of one
// language, cleaned, deduplicated and split.
#include <iconv.h>

#include <unordered_set>

#include <nlohmann/json.hpp>

#include "collector/errors.h"
#include "workloads/text/corpus_parts.h"
#include "workloads/text/mo_catalog.h"
#include "workloads/text/text_normalize.h"

namespace moeprof::text::detail {

namespace {

constexpr int64_t kMaxCatalogBytes = 64ll << 20;
constexpr size_t kMaxMessageBytes = 2048;  // longer ones are whole --help pages, not sentences

// The (source, target) pairs of one message: the singular with the first form and, where the
// language has a second form, the plural with it.
std::vector<std::pair<std::string, std::string>> messagePairs(const MoMessage& m) {
  std::vector<std::pair<std::string, std::string>> pairs;
  pairs.emplace_back(m.msgid, m.msgstr.empty() ? "" : m.msgstr[0]);
  if (!m.msgidPlural.empty() && m.msgstr.size() > 1) pairs.emplace_back(m.msgidPlural, m.msgstr[1]);
  return pairs;
}

// Why a pair is dropped, or empty when it is kept.
const char* dropReason(const std::string& source, const std::string& target) {
  if (target.empty() || source.empty()) return "empty";
  if (!isValidUtf8(source) || !isValidUtf8(target)) return "non_utf8";
  if (isFormatOnly(source) || isFormatOnly(target)) return "format_only";
  if (source.size() > kMaxMessageBytes || target.size() > kMaxMessageBytes) return "too_long";
  return nullptr;
}

// Converts every string of a catalog in another charset (ISO-8859-1, EUC-JP, ...) to UTF-8 with
// the C library's iconv; false when the charset is unknown or a string does not convert.
bool convertToUtf8(MoCatalog& catalog, const std::string& charset) {
  iconv_t cd = iconv_open("UTF-8", charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return false;
  auto convert = [&](std::string& s) {
    std::string out(s.size() * 4 + 4, '\0');
    char* in = s.data();
    size_t inLeft = s.size();
    char* o = out.data();
    size_t outLeft = out.size();
    iconv(cd, nullptr, nullptr, nullptr, nullptr);
    if (iconv(cd, &in, &inLeft, &o, &outLeft) == static_cast<size_t>(-1)) return false;
    out.resize(out.size() - outLeft);
    s = std::move(out);
    return true;
  };
  bool ok = true;
  for (auto& m : catalog.messages) {
    ok = ok && convert(m.context) && convert(m.msgid) && convert(m.msgidPlural);
    for (auto& form : m.msgstr) ok = ok && convert(form);
  }
  iconv_close(cd);
  return ok;
}

void addCatalog(const SourceFile& file, const MoCatalog& catalog, MtPartText& part,
                std::unordered_set<std::string>& seen, std::vector<MtPair>& kept) {
  std::string name = file.path.stem().string();
  for (const auto& m : catalog.messages) {
    if (m.msgid.empty() && m.context.empty()) continue;  // the header
    for (const auto& [rawSource, rawTarget] : messagePairs(m)) {
      std::string source = collapseWhitespace(rawSource);
      std::string target = collapseWhitespace(rawTarget);
      const char* reason = dropReason(source, target);
      if (!reason && !seen.insert(source).second) reason = "duplicate";
      if (reason) {
        ++part.dropped[reason];
        continue;
      }
      kept.push_back({std::move(source), std::move(target), name, m.context});
    }
  }
}

}  // namespace

MtPartText buildMtPart(const std::vector<SourceFile>& files) {
  MtPartText part;
  part.sources = static_cast<int64_t>(files.size());
  std::unordered_set<std::string> seen;
  std::vector<MtPair> kept;
  for (const auto& file : files) {
    MoCatalog catalog;
    try {
      catalog = parseMoCatalog(readSourceFile(file, kMaxCatalogBytes), file.key);
    } catch (const InputError& e) {
      ++part.dropped["malformed_catalog"];
      part.warnings.push_back(e.what());
      continue;
    }
    std::string charset = catalog.charset();
    if (charset != "utf-8" && charset != "utf8" && !charset.empty() &&
        !convertToUtf8(catalog, charset)) {
      ++part.dropped["unconvertible_catalog"];
      part.warnings.push_back(file.key + ": charset " + charset + " does not convert to UTF-8");
      continue;
    }
    addCatalog(file, catalog, part, seen, kept);
  }
  for (auto& p : kept) {
    (isValidation(p.source, kMtValidPercent) ? part.valid : part.train).push_back(std::move(p));
  }
  return part;
}

std::string mtJsonLines(const std::vector<MtPair>& pairs) {
  std::string out;
  for (const auto& p : pairs) {
    nlohmann::json row{
        {"src", p.source}, {"tgt", p.target}, {"catalog", p.catalog}, {"context", p.context}};
    // A context or file name that is not UTF-8 must not stop the build.
    out += row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
  }
  return out;
}

}  // namespace moeprof::text::detail
