#pragma once
// GNU gettext message catalogs (.mo files): the binary format parsed without trusting any
// offset in it, so a truncated or corrupt catalog is rejected with an InputError naming the
// file and the bad field, never read out of bounds.
#include <string>
#include <string_view>
#include <vector>

namespace moeprof::text {

// One message of a catalog. Plural messages have msgidPlural set and one msgstr per form;
// others have exactly one msgstr. An empty msgid with no context is the catalog header.
struct MoMessage {
  std::string context;  // msgctxt, empty when none
  std::string msgid;
  std::string msgidPlural;
  std::vector<std::string> msgstr;
};

struct MoCatalog {
  bool bigEndian = false;
  uint32_t revision = 0;
  std::vector<MoMessage> messages;  // in the catalog's order (sorted by original string)
  // The header's charset (from "Content-Type: text/plain; charset=..."), lower-case; empty
  // when the catalog has no header or the header names none.
  std::string charset() const;
};

// `name` is used in error messages only (usually the file path).
MoCatalog parseMoCatalog(std::string_view bytes, const std::string& name);

}  // namespace moeprof::text
