#pragma once
// Test support: writes gettext .mo catalogs byte by byte (either endianness), so the parser is
// tested on files whose every offset the test controls.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace moeprof::testing {

struct MoEntry {
  std::string original;     // msgid, "ctx\x04msgid" for context, "one\0many" for plurals
  std::string translation;  // "form0\0form1" for plurals
};

inline void putWord(std::string& out, size_t at, uint32_t value, bool bigEndian) {
  for (int i = 0; i < 4; ++i) {
    int shift = bigEndian ? 24 - 8 * i : 8 * i;
    out[at + i] = static_cast<char>(value >> shift & 0xff);
  }
}

inline std::string makeMo(const std::vector<MoEntry>& entries, bool bigEndian = false,
                          uint32_t revision = 0) {
  uint32_t n = static_cast<uint32_t>(entries.size());
  uint32_t originals = 28, translations = 28 + 8 * n, strings = 28 + 16 * n;
  std::string out(strings, '\0');
  putWord(out, 0, 0x950412de, bigEndian);
  putWord(out, 4, revision, bigEndian);
  putWord(out, 8, n, bigEndian);
  putWord(out, 12, originals, bigEndian);
  putWord(out, 16, translations, bigEndian);
  auto add = [&](uint32_t table, uint32_t i, const std::string& s) {
    putWord(out, table + 8 * i, static_cast<uint32_t>(s.size()), bigEndian);
    putWord(out, table + 8 * i + 4, static_cast<uint32_t>(out.size()), bigEndian);
    out += s;
    out += '\0';
  };
  for (uint32_t i = 0; i < n; ++i) add(originals, i, entries[i].original);
  for (uint32_t i = 0; i < n; ++i) add(translations, i, entries[i].translation);
  return out;
}

inline std::string moHeader() {
  return "Project-Id-Version: test\nContent-Type: text/plain; charset=UTF-8\n"
         "Plural-Forms: nplurals=2; plural=(n > 1);\n";
}

}  // namespace moeprof::testing
