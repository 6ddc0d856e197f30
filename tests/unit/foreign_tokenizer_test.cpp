// SentencePiece models that moeprof did not write: trained by SentencePiece's own command-line
// tools (Debian `sentencepiece`) with T5's special ids (pad 0, eos 1, unk 2, no bos) and with
// BPE, as the NLLB and T5/Switch models are made. moeprof must read their special ids and
// encode exactly as SentencePiece's own encoder does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "tests/support/fake_corpus_root.h"
#include "tests/support/moeprof_command.h"
#include "workloads/text/tokenizer.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;

struct ShellResult {
  int exitCode;
  std::string output;
};

ShellResult shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::vector<int32_t> parseIds(const std::string& line) {
  std::istringstream in(line);
  std::vector<int32_t> ids;
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

class ForeignTokenizerTest : public testing::TempDirTest {
 protected:
  // Trains with spm_train (not moeprof) and returns the .model path.
  fs::path trainWithSpm(const std::string& name, int vocab, const std::string& options) {
    std::string text;
    for (int i = 0; i < 300; ++i) text += testing::fakeSentence(i) + "\n";
    testing::writeFile(dir_ / "train.txt", text);
    auto trained =
        shell("spm_train --input=" + path("train.txt") + " --model_prefix=" + path(name) +
              " --vocab_size=" + std::to_string(vocab) + " --num_threads=1 " + options);
    EXPECT_EQ(trained.exitCode, 0)
        << "spm_train (Debian package sentencepiece, installed by scripts/setup.sh) failed:\n"
        << trained.output;
    return dir_ / (name + ".model");
  }

  // The ids spm_encode gives for `line`.
  std::vector<int32_t> spmEncode(const fs::path& model, const std::string& line) {
    testing::writeFile(dir_ / "line.txt", line + "\n");
    auto encoded = shell("spm_encode --model=" + model.string() +
                         " --output_format=id --input=" + path("line.txt"));
    EXPECT_EQ(encoded.exitCode, 0) << encoded.output;
    return parseIds(encoded.output);
  }
};

TEST_F(ForeignTokenizerTest, T5StyleSpecialIdsAndSpmEncoding) {
  auto model = trainWithSpm("t5", 40,
                            "--model_type=unigram --pad_id=0 --eos_id=1 --unk_id=2 "
                            "--bos_id=-1");
  auto tokenizer = text::Tokenizer::load(model);
  auto ids = tokenizer.specialIds();
  EXPECT_EQ(ids.pad, 0);
  EXPECT_EQ(ids.eos, 1);
  EXPECT_EQ(ids.unk, 2);
  EXPECT_EQ(ids.bos, -1);
  EXPECT_EQ(ids.size, 40);
  const std::string line = "the users write simple tools and every page shows a list.";
  auto expected = spmEncode(model, line);
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(tokenizer.encode(line), expected);
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(line)), line);
}

TEST_F(ForeignTokenizerTest, BpeModelEncodesLikeSpmThroughTheCli) {
  auto model = trainWithSpm("bpe", 80, "--model_type=bpe --user_defined_symbols=__fr__");
  const std::string line = "__fr__ the option reads of pages for who shows.";
  auto expected = spmEncode(model, line);
  ASSERT_FALSE(expected.empty());
  const int32_t tag = text::Tokenizer::load(model).pieceId("__fr__");
  EXPECT_GE(tag, 0);
  EXPECT_NE(std::find(expected.begin(), expected.end(), tag), expected.end());  // one piece
  auto encoded = testing::runMoeprof("tokenizer encode --model " + model.string() + " --input " +
                                     path("line.txt"));
  ASSERT_EQ(encoded.exitCode, 0) << encoded.output;
  EXPECT_EQ(parseIds(encoded.output), expected);
}

}  // namespace
}  // namespace moeprof
