#pragma once
// Test support: a small tree shaped like a Debian system's (manual pages, headers, licenses,
// gettext catalogs in fr, ja and ast), so corpus builds are tested without the machine's files.
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/mo_writer.h"

namespace moeprof::testing {

inline void writeFile(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

inline void writeGzip(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// A sentence made of words picked by `seed`, so documents differ but share a vocabulary.
inline std::string fakeSentence(int seed, int words = 12) {
  static const char* kWords[] = {"the", "file",  "system", "reads", "a",      "list",
                                 "of",  "pages", "and",    "shows", "every",  "option",
                                 "for", "users", "who",    "write", "simple", "tools"};
  std::string s;
  unsigned state = static_cast<unsigned>(seed) * 2654435761u + 1;
  for (int i = 0; i < words; ++i) {
    state = state * 1103515245u + 12345u;
    s += (i ? " " : "") + std::string(kWords[(state >> 16) % 18]);
  }
  return s + ".";
}

struct FakeCorpusRoot {
  int pages = 0;  // distinct manual pages (besides the duplicate and the redirect)
  int headers = 0;
  int licenses = 0;
};

// The MT catalog of one language: `n` distinct pairs plus entries that must be dropped.
inline std::string fakeCatalog(const std::string& language, int n) {
  std::vector<MoEntry> entries{{"", moHeader()}};
  auto source = [](int i) { return fakeSentence(i, 4) + " " + std::to_string(i); };
  for (int i = 0; i < n; ++i) {
    entries.push_back({source(i), language + " " + fakeSentence(1000 + i, 4)});
  }
  entries.push_back({"%s: %d", "%s : %d"});     // format only
  entries.push_back({"Untranslated", ""});      // empty
  entries.push_back({source(0), "duplicate"});  // same source as the first
  entries.push_back({std::string("%d page\0%d pages", 16),
                     std::string("%d ") + language + std::string("\0%d ", 4) + language + "s"});
  entries.push_back({std::string("menu\x04"
                                 "Quit"),
                     language + " quit"});
  return makeMo(entries, language == "ja");
}

inline FakeCorpusRoot writeFakeCorpusRoot(const std::filesystem::path& root) {
  FakeCorpusRoot counts;
  for (int i = 0; i < 60; ++i, ++counts.pages) {
    std::string page = ".TH PAGE" + std::to_string(i) + " 1\n.SH NAME\npage" + std::to_string(i) +
                       " \\- " + fakeSentence(i) + "\n.SH DESCRIPTION\n.PP\n" +
                       fakeSentence(i + 100) + "\n\\fB" + fakeSentence(i + 200) + "\\fR\n";
    auto path = root / "usr/share/man/man1" / ("page" + std::to_string(i) + ".1");
    if (i % 2)
      writeGzip(path.string() + ".gz", page);
    else
      writeFile(path, page);
    if (i == 0) writeFile(root / "usr/share/man/man7/copy.7", page);  // a duplicate
  }
  writeFile(root / "usr/share/man/man1/redirect.1", ".so man1/page0.1\n");
  writeFile(root / "usr/share/man/fr/man1/page0.1",
            ".TH X 1\nune page en fran\xc3\xa7"
            "ais\n");
  for (int i = 0; i < 60; ++i, ++counts.headers) {
    writeFile(root / "usr/include" / (i % 3 ? "sub" : "") / ("h" + std::to_string(i) + ".h"),
              "/* " + fakeSentence(i + 300) + " */\nint f" + std::to_string(i) +
                  "(int a) {\n\treturn a + " + std::to_string(i) + ";\n}\n");
  }
  writeFile(root / "usr/include/notes.txt", "not a header, skipped by extension\n");
  writeFile(root / "usr/include/latin1.h", "/* caf\xe9 is not UTF-8 here, dropped */ int x;\n");
  for (int i = 0; i < 40; ++i, ++counts.licenses) {
    writeFile(root / "usr/share/doc" / ("pkg" + std::to_string(i)) / "copyright",
              "Copyright " + std::to_string(2000 + i) + " " + fakeSentence(i + 400) + "\n\n" +
                  fakeSentence(i + 500) + "\n");
  }
  writeFile(root / "usr/share/doc/pkgdup/copyright",
            "Copyright 2000 " + fakeSentence(400) + "\n\n" + fakeSentence(500) + "\n");
  writeFile(root / "usr/share/common-licenses/TEST-1.0",
            "The test license. " + fakeSentence(600, 40) + "\n");
  ++counts.licenses;
  for (const char* language : {"fr", "ja", "ast"}) {
    writeFile(root / "usr/share/locale" / language / "LC_MESSAGES/test.mo",
              fakeCatalog(language, 40));
  }
  writeFile(root / "usr/share/locale/fr/LC_MESSAGES/broken.mo", std::string(40, '\x7f'));
  // A catalog in ISO-8859-1, converted to UTF-8 by the builder.
  writeFile(
      root / "usr/share/locale/ast/LC_MESSAGES/latin.mo",
      makeMo({{"", "Content-Type: text/plain; charset=ISO-8859-1\n"}, {"Coffee shop", "caf\xe9"}}));
  writeFile(root / "PACKAGES", "fake-package 1.0\n");
  return counts;
}

}  // namespace moeprof::testing
