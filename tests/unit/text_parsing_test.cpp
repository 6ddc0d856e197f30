// The text rules of the corpora: .mo catalogs (both byte orders, plurals, context, corrupt
// files), roff manual pages to text, UTF-8, whitespace, the split and format-only messages.
#include <gtest/gtest.h>

#include "tests/support/input_error.h"
#include "tests/support/mo_writer.h"
#include "workloads/text/mo_catalog.h"
#include "workloads/text/roff_text.h"
#include "workloads/text/text_normalize.h"

namespace moeprof {
namespace {

using testing::makeMo;
using testing::MoEntry;
using text::parseMoCatalog;

std::vector<MoEntry> sampleEntries() {
  return {{"", testing::moHeader()},
          {"Open file", "Ouvrir le fichier"},
          {std::string("menu\x04"
                       "Quit"),
           "Quitter"},
          {std::string("%d file\0%d files", 16), std::string("%d fichier\0%d fichiers", 22)}};
}

class MoCatalogTest : public ::testing::TestWithParam<bool> {};

TEST_P(MoCatalogTest, ParsesMessagesContextAndPluralsInEitherByteOrder) {
  auto catalog = parseMoCatalog(makeMo(sampleEntries(), GetParam()), "t.mo");
  EXPECT_EQ(catalog.bigEndian, GetParam());
  ASSERT_EQ(catalog.messages.size(), 4u);
  EXPECT_EQ(catalog.charset(), "utf-8");
  EXPECT_EQ(catalog.messages[1].msgid, "Open file");
  EXPECT_EQ(catalog.messages[1].msgstr, std::vector<std::string>{"Ouvrir le fichier"});
  EXPECT_EQ(catalog.messages[2].context, "menu");
  EXPECT_EQ(catalog.messages[2].msgid, "Quit");
  const auto& plural = catalog.messages[3];
  EXPECT_EQ(plural.msgid, "%d file");
  EXPECT_EQ(plural.msgidPlural, "%d files");
  EXPECT_EQ(plural.msgstr, (std::vector<std::string>{"%d fichier", "%d fichiers"}));
}

INSTANTIATE_TEST_SUITE_P(ByteOrder, MoCatalogTest, ::testing::Values(false, true));

TEST(MoCatalog, RejectsTruncatedGarbageAndOutOfRangeOffsets) {
  std::string good = makeMo(sampleEntries());
  auto message = [](const std::string& bytes) {
    return testing::inputErrorMessage([&] { parseMoCatalog(bytes, "bad.mo"); });
  };
  EXPECT_NE(message(good.substr(0, 10)).find("bad.mo"), std::string::npos);
  EXPECT_NE(message(std::string(64, 'x')).find("magic"), std::string::npos);
  // Cut inside the string data: the last translation lies past the end.
  EXPECT_NE(message(good.substr(0, good.size() - 5)).find("outside"), std::string::npos);
  std::string farOffset = good;
  testing::putWord(farOffset, 28 + 4, 0xfffffff0u, false);  // first original's offset
  EXPECT_NE(message(farOffset).find("original string 0"), std::string::npos);
  std::string hugeLength = good;
  testing::putWord(hugeLength, 28, 0xffffffffu, false);
  EXPECT_NE(message(hugeLength).find("outside"), std::string::npos);
  std::string tableOutside = good;
  testing::putWord(tableOutside, 16, 0x7ffffff0u, false);  // translation table offset
  EXPECT_NE(message(tableOutside).find("past the end"), std::string::npos);
  std::string tooMany = good;
  testing::putWord(tooMany, 8, 0x10000000u, false);
  EXPECT_NE(message(tooMany).find("messages"), std::string::npos);
  EXPECT_NE(message(makeMo(sampleEntries(), false, 5u << 16)).find("revision"), std::string::npos);
}

TEST(MoCatalog, EveryTruncationIsAnErrorNeverACrash) {
  std::string good = makeMo(sampleEntries(), true);
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THROW(parseMoCatalog(good.substr(0, n), "cut.mo"), InputError) << n;
  }
  EXPECT_NO_THROW(parseMoCatalog(good, "whole.mo"));
}

TEST(RoffText, StripsMacrosFontsAndEscapes) {
  std::string page =
      ".\\\" a comment\n.TH LS 1 \"2023\" \"GNU\"\n.SH NAME\nls \\- list directory contents\n"
      ".SH DESCRIPTION\n.PP\nList \\fBinformation\\fR about the \\fIFILE\\fPs.\n"
      ".TP\n\\fB\\-a\\fR, \\fB\\-\\-all\\fR\ndo not ignore entries \\(em starting with .\n"
      ".BR ls (1)\n.de XX\nmacro body text\n..\n\\(lqquoted\\(rq caf\\[u00E9] \\s-1small\\s0\n";
  std::string text = text::roffToText(page);
  EXPECT_NE(text.find("NAME\n\nls - list directory contents"), std::string::npos) << text;
  EXPECT_NE(text.find("List information about the FILEs."), std::string::npos) << text;
  EXPECT_NE(text.find("-a, --all"), std::string::npos) << text;
  EXPECT_NE(text.find("entries \u2014 starting"), std::string::npos) << text;
  EXPECT_NE(text.find("ls(1)"), std::string::npos) << text;
  EXPECT_NE(text.find("\u201cquoted\u201d caf\u00e9 small"), std::string::npos) << text;
  for (const char* gone : {"comment", "macro body", "\\f", ".TH", "2023"}) {
    EXPECT_EQ(text.find(gone), std::string::npos) << gone << " in:\n" << text;
  }
  EXPECT_EQ(text::roffToText(".so man1/other.1\n"), "");
}

TEST(TextNormalize, Utf8WhitespaceAndFormatOnly) {
  EXPECT_TRUE(text::isValidUtf8("caf\xc3\xa9 \xe6\x97\xa5"));
  EXPECT_FALSE(text::isValidUtf8("caf\xe9"));       // Latin-1
  EXPECT_FALSE(text::isValidUtf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(text::isValidUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(text::isValidUtf8("\xe6\x97"));      // truncated
  EXPECT_EQ(text::normalizeWhitespace("  a \t b  \n\n\n\nc\x01 \n  \n"), "a b\n\nc");
  EXPECT_EQ(text::normalizeWhitespace("int f() {\n\treturn 1;  \n}\n", true),
            "int f() {\n  return 1;\n}");
  EXPECT_EQ(text::collapseWhitespace("  Usage:\n  ls [OPTION]  "), "Usage: ls [OPTION]");
  for (const char* only :
       {"%s", "%d: %s", "%1$s %2$lld%%", "{0}", "%(name)s", "...", "  ", "%s\xe2\x80\xa6",
        "%"
        "<PRId64>"}) {
    EXPECT_TRUE(text::isFormatOnly(only)) << only;
  }
  for (const char* words : {"%s file", "Quit", "\xe7\xb5\x82\xe4\xba\x86", "%d fichier"}) {
    EXPECT_FALSE(text::isFormatOnly(words)) << words;
  }
}

TEST(TextNormalize, SplitIsDeterministicAndNearItsShare) {
  int valid = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string key = "usr/share/man/man1/page" + std::to_string(i) + ".1.gz";
    bool v = text::isValidation(key, 10);
    EXPECT_EQ(v, text::isValidation(key, 10));
    valid += v;
  }
  EXPECT_GT(valid, 800);
  EXPECT_LT(valid, 1200);
  EXPECT_EQ(text::hex64(text::fnv1a64("")), "cbf29ce484222325");
  EXPECT_EQ(text::hex64(text::fnv1a64("a")), "af63dc4c8601ec8c");
}

}  // namespace
}  // namespace moeprof
