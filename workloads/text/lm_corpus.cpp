// The LM half of the corpus builder: documents of one domain read, cleaned, deduplicated and
// split.
#include <algorithm>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "collector/errors.h"
#include "workloads/text/corpus_parts.h"
#include "workloads/text/roff_text.h"
#include "workloads/text/text_normalize.h"

namespace moeprof::text::detail {

namespace {

constexpr size_t kMinDocumentBytes = 32;

// The cleaned text of one source file, or the reason it is dropped.
struct Cleaned {
  std::string text;
  std::string dropped;
};

Cleaned clean(const SourceFile& file, const std::string& domain, const CorpusBuildOptions& o) {
  if (file.bytes > o.maxDocumentBytes) return {"", "too_large"};
  std::string raw;
  try {
    raw = readSourceFile(file, o.maxDocumentBytes * 4);
  } catch (const InputError&) {
    return {"", "unreadable"};
  }
  if (static_cast<int64_t>(raw.size()) > o.maxDocumentBytes * 4) return {"", "too_large"};
  if (!isValidUtf8(raw)) return {"", "non_utf8"};
  if (domain == "prose") {
    raw = roffToText(raw);
    if (raw.empty()) return {"", "redirect"};
  }
  std::string text = normalizeWhitespace(raw, domain == "code");
  if (!isValidUtf8(text)) return {"", "non_utf8"};  // an escape that split a character
  if (text.size() < kMinDocumentBytes) return {"", "too_short"};
  return {std::move(text), ""};
}

}  // namespace

LmPartText buildLmPart(const std::vector<SourceFile>& files, const std::string& domain,
                       const CorpusBuildOptions& options) {
  // Documents are taken in the order of a hash of their path until the domain's byte budget is
  // spent: a sample spread over every package, the same on every machine with the same files.
  std::vector<const SourceFile*> order;
  for (const auto& f : files) order.push_back(&f);
  std::sort(order.begin(), order.end(), [](const SourceFile* a, const SourceFile* b) {
    uint64_t ha = fnv1a64(a->key), hb = fnv1a64(b->key);
    return ha != hb ? ha < hb : a->key < b->key;
  });
  LmPartText part;
  part.sources = static_cast<int64_t>(files.size());
  std::unordered_set<uint64_t> seen;
  std::vector<LmDocument> kept;
  int64_t keptBytes = 0;
  for (const SourceFile* file : order) {
    if (keptBytes >= options.maxDomainBytes) {
      ++part.dropped["over_budget"];
      continue;
    }
    Cleaned c = clean(*file, domain, options);
    if (c.dropped.empty() && !seen.insert(fnv1a64(c.text)).second) c.dropped = "duplicate";
    if (!c.dropped.empty()) {
      ++part.dropped[c.dropped];
      continue;
    }
    keptBytes += static_cast<int64_t>(c.text.size());
    kept.push_back({file->key, std::move(c.text)});
  }
  std::sort(kept.begin(), kept.end(),
            [](const LmDocument& a, const LmDocument& b) { return a.key < b.key; });
  for (auto& d : kept) {
    (isValidation(d.key, kLmValidPercent) ? part.valid : part.train).push_back(std::move(d));
  }
  return part;
}

std::string lmJsonLines(const std::vector<LmDocument>& documents) {
  std::string out;
  for (const auto& d : documents) {
    out += nlohmann::json{{"path", d.key}, {"text", d.text}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
  }
  return out;
}

}  // namespace moeprof::text::detail
