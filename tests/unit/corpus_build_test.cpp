// The corpus builder on a fake Debian tree: what each domain and language keeps and drops, the
// manifest, cache reuse, byte-identical rebuilds; the tokenizers it trains; the readers.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/fake_corpus_root.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "workloads/text/corpus.h"
#include "workloads/text/text_input.h"
#include "workloads/text/tokenizer.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;

std::string readAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class CorpusBuildTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    counts_ = testing::writeFakeCorpusRoot(dir_ / "root");
  }
  text::CorpusBuildOptions options(const std::string& out) const {
    text::CorpusBuildOptions o;
    o.root = dir_ / "root";
    o.out = dir_ / out;
    o.lmVocab = 90;
    o.mtVocab = 96;
    o.threads = 1;
    return o;
  }
  testing::FakeCorpusRoot counts_;
};

TEST_F(CorpusBuildTest, KeepsCleanDeduplicatedTextPerDomainAndLanguage) {
  auto result = text::buildCorpus(options("corpus"));
  EXPECT_FALSE(result.reused);
  const auto& m = result.manifest;
  const auto& prose = m.lm.at("prose");
  EXPECT_EQ(prose.train.items + prose.valid.items, counts_.pages);
  EXPECT_EQ(prose.sources, counts_.pages + 2);  // the duplicate and the redirect; not fr/
  EXPECT_EQ(prose.dropped.at("duplicate"), 1);
  EXPECT_EQ(prose.dropped.at("redirect"), 1);
  const auto& code = m.lm.at("code");
  EXPECT_EQ(code.train.items + code.valid.items, counts_.headers);
  EXPECT_EQ(code.dropped.at("non_utf8"), 1);
  const auto& license = m.lm.at("license");
  EXPECT_EQ(license.train.items + license.valid.items, counts_.licenses);
  EXPECT_EQ(license.dropped.at("duplicate"), 1);
  for (const char* language : {"fr", "ja", "ast"}) {
    const auto& part = m.mt.at(language);
    // 40 pairs, the plural's two forms and the message with a context (ast: and latin.mo's).
    EXPECT_EQ(part.train.items + part.valid.items, language == std::string("ast") ? 44 : 43)
        << language;
    EXPECT_GT(part.valid.items, 0) << language;
    EXPECT_EQ(part.dropped.at("format_only"), 1) << language;
    EXPECT_EQ(part.dropped.at("empty"), 1) << language;
    EXPECT_EQ(part.dropped.at("duplicate"), 1) << language;
    EXPECT_GT(part.train.tokens, part.train.items) << language;
  }
  EXPECT_EQ(m.mt.at("fr").dropped.at("malformed_catalog"), 1);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_NE(result.warnings[0].find("broken.mo"), std::string::npos);
  EXPECT_EQ(m.packages, std::vector<std::string>{"fake-package 1.0"});

  auto documents = text::readLmDocuments(dir_ / "corpus", "prose", "train");
  ASSERT_EQ(static_cast<int64_t>(documents.size()), prose.train.items);
  EXPECT_EQ(documents[0].find(".TH"), std::string::npos) << documents[0];
  EXPECT_NE(documents[0].find("NAME"), std::string::npos) << documents[0];
  auto pairs = text::readMtPairs(dir_ / "corpus", "ja", "train");
  ASSERT_FALSE(pairs.empty());
  EXPECT_EQ(pairs[0].catalog, "test");
  EXPECT_EQ(pairs[0].target.rfind("ja ", 0), 0u) << pairs[0].target;
  auto ast = text::readMtPairs(dir_ / "corpus", "ast", "train");
  auto valid = text::readMtPairs(dir_ / "corpus", "ast", "valid");
  ast.insert(ast.end(), valid.begin(), valid.end());
  auto coffee = std::find_if(ast.begin(), ast.end(),
                             [](const text::MtPair& p) { return p.source == "Coffee shop"; });
  ASSERT_NE(coffee, ast.end());
  EXPECT_EQ(coffee->target, "caf\xc3\xa9");  // from ISO-8859-1
  EXPECT_EQ(coffee->catalog, "latin");
}

TEST_F(CorpusBuildTest, ManifestRoundTripsAndOtherVersionsAreRejected) {
  auto result = text::buildCorpus(options("corpus"));
  auto read = text::readCorpusManifest(dir_ / "corpus");
  EXPECT_EQ(text::toJson(read), text::toJson(result.manifest));
  auto json = text::toJson(read);
  json["schema_version"] = 99;
  auto message = testing::inputErrorMessage([&] { text::corpusManifestFromJson(json, "m.json"); });
  EXPECT_NE(message.find("schema version 99"), std::string::npos) << message;
  json = text::toJson(read);
  json["lm"]["prose"].erase("train");
  message = testing::inputErrorMessage([&] { text::corpusManifestFromJson(json, "m.json"); });
  EXPECT_NE(message.find("m.json"), std::string::npos) << message;
  message = testing::inputErrorMessage(
      [&] { text::corpusManifestFromJson(nlohmann::json::array(), "m.json"); });
  EXPECT_NE(message.find("not a moeprof corpus"), std::string::npos) << message;
}

TEST_F(CorpusBuildTest, ReusesTheCacheAndRebuildsByteIdentically) {
  auto first = text::buildCorpus(options("a"));
  auto again = text::buildCorpus(options("a"));
  EXPECT_TRUE(again.reused) << again.reason;
  auto forced = options("b");
  forced.force = true;
  auto second = text::buildCorpus(forced);
  EXPECT_FALSE(second.reused);
  EXPECT_EQ(readAll(dir_ / "a" / text::kCorpusManifestFileName),
            readAll(dir_ / "b" / text::kCorpusManifestFileName));
  for (const auto& entry : fs::recursive_directory_iterator(dir_ / "a")) {
    if (!entry.is_regular_file()) continue;
    auto relative = fs::relative(entry.path(), dir_ / "a");
    EXPECT_EQ(readAll(entry.path()), readAll(dir_ / "b" / relative)) << relative;
  }
  // A changed output file, or a changed source, means a rebuild.
  testing::writeFile(dir_ / "a/lm/code.train.jsonl", "{}\n");
  auto repaired = text::buildCorpus(options("a"));
  EXPECT_FALSE(repaired.reused);
  EXPECT_NE(repaired.reason.find("hash"), std::string::npos) << repaired.reason;
  EXPECT_EQ(readAll(dir_ / "a/lm/code.train.jsonl"), readAll(dir_ / "b/lm/code.train.jsonl"));
  testing::writeFile(dir_ / "root/usr/include/new.h", "int a_new_header_with_text(void);\n");
  auto changed = text::buildCorpus(options("a"));
  EXPECT_FALSE(changed.reused);
  EXPECT_EQ(changed.manifest.lm.at("code").dropped.count("duplicate"), 0u);
  EXPECT_EQ(changed.manifest.lm.at("code").train.items + changed.manifest.lm.at("code").valid.items,
            counts_.headers + 1);
}

TEST_F(CorpusBuildTest, RefusesDirectoriesThatAreNotCorporaAndRootsWithoutSources) {
  testing::writeFile(dir_ / "busy/keep.txt", "mine");
  auto message = testing::inputErrorMessage([&] { text::buildCorpus(options("busy")); });
  EXPECT_NE(message.find("no corpus"), std::string::npos) << message;
  EXPECT_EQ(readAll(dir_ / "busy/keep.txt"), "mine");
  fs::remove_all(dir_ / "root/usr/share/locale/ast");
  message = testing::inputErrorMessage([&] { text::buildCorpus(options("c")); });
  EXPECT_NE(message.find("usr/share/locale/ast/LC_MESSAGES"), std::string::npos) << message;
  EXPECT_NE(message.find("corpus_sources.sh"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir_ / "c"));
}

TEST_F(CorpusBuildTest, TextInputStreamsValidationTextWithLanguageTags) {
  text::buildCorpus(options("corpus"));
  text::TextInput input;
  input.corpus = dir_ / "corpus";
  input.language = "fr";
  text::checkTextInput(input, true, 101, false);
  auto ids = text::textTokenStream(input, true, 100000);
  auto tokenizer = text::Tokenizer::load(dir_ / "corpus/tokenizers/mt.model");
  int32_t tag = tokenizer.pieceId("__fr__");
  ASSERT_GE(tag, 0);
  EXPECT_EQ(ids.front(), tag);
  auto pairs = text::readMtPairs(dir_ / "corpus", "fr", "valid");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tag), static_cast<int64_t>(pairs.size()));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tokenizer.specialIds().eos),
            static_cast<int64_t>(pairs.size()));
  auto message = testing::inputErrorMessage([&] { text::checkTextInput(input, true, 50, false); });
  EXPECT_NE(message.find("(" + std::to_string(tokenizer.vocabSize()) + ")"), std::string::npos);
  EXPECT_NE(message.find("(50)"), std::string::npos) << message;
  input.language.clear();
  input.domain = "code";
  message = testing::inputErrorMessage([&] { text::checkTextInput(input, true, 101, false); });
  EXPECT_NE(message.find("--domain applies to lm"), std::string::npos) << message;
  input.domain = "poetry";
  message = testing::inputErrorMessage([&] { text::checkTextInput(input, false, 101, false); });
  EXPECT_NE(message.find("prose, code, license"), std::string::npos) << message;
}

TEST(Tokenizer, TrainsEncodesAndDecodesRoundTrip) {
  std::vector<std::string> sentences;
  for (int i = 0; i < 300; ++i) sentences.push_back(testing::fakeSentence(i));
  text::TokenizerTrainOptions o;
  o.vocabSize = 80;
  o.threads = 1;
  o.userSymbols = {"__fr__"};
  auto model = text::trainTokenizer(sentences, o);
  EXPECT_EQ(model, text::trainTokenizer(sentences, o));  // deterministic
  auto tokenizer = text::Tokenizer::fromSerialized(model, "m");
  EXPECT_LE(tokenizer.vocabSize(), 80);
  EXPECT_GT(tokenizer.vocabSize(), 30);
  auto special = tokenizer.specialIds();
  EXPECT_EQ(special.bos, 0);
  EXPECT_EQ(special.pad, 1);
  EXPECT_EQ(special.eos, 2);
  EXPECT_EQ(special.unk, 3);
  EXPECT_GE(tokenizer.pieceId("__fr__"), 4);
  EXPECT_EQ(tokenizer.pieceId("__nope__"), -1);
  std::string text = "the file system shows every option for users.";
  auto ids = tokenizer.encode(text);
  EXPECT_LT(ids.size(), text.size());  // subwords, not characters
  EXPECT_EQ(tokenizer.decode(ids), text);
  auto tagged = tokenizer.encode("__fr__ the file");
  EXPECT_NE(std::find(tagged.begin(), tagged.end(), tokenizer.pieceId("__fr__")), tagged.end());
  auto message = testing::inputErrorMessage([&] { tokenizer.decode({tokenizer.vocabSize()}); });
  EXPECT_NE(message.find("outside"), std::string::npos) << message;
  message =
      testing::inputErrorMessage([] { text::Tokenizer::fromSerialized("garbage", "g.model"); });
  EXPECT_NE(message.find("g.model"), std::string::npos) << message;
  o.modelType = "wordpiece";
  message = testing::inputErrorMessage([&] { text::trainTokenizer(sentences, o); });
  EXPECT_NE(message.find("unigram, bpe"), std::string::npos) << message;
}

}  // namespace
}  // namespace moeprof
