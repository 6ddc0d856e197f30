// safetensors: the spec's byte layout read and written exactly, every dtype round trip, zero-copy
// views, sharded checkpoints with an index, and every malformed input rejected with a message
// that names the file and the tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "workloads/checkpoints/safetensors.h"
#include "workloads/checkpoints/safetensors_shards.h"
#include "workloads/checkpoints/safetensors_tensors.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using workloads::FloatLoad;
using workloads::NamedTensor;
using workloads::SafetensorsDtype;
using workloads::SafetensorsFile;
using workloads::SafetensorsShards;

std::string littleEndian64(uint64_t value) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  return bytes;
}

std::string floatBytes(std::initializer_list<float> values) {
  std::string bytes;
  for (float v : values) bytes.append(reinterpret_cast<const char*>(&v), sizeof(v));
  return bytes;
}

// A file in the spec's layout, by hand: u64 length, JSON, data.
std::string specFile(const std::string& json, const std::string& data) {
  return littleEndian64(json.size()) + json + data;
}

std::string readAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class SafetensorsTest : public testing::TempDirTest {
 protected:
  fs::path write(const std::string& name, const std::string& bytes) {
    auto file = dir_ / name;
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }
  // The message of opening a file with these bytes; it must name the file.
  std::string openError(const std::string& bytes) {
    auto file = write("bad.safetensors", bytes);
    auto message = testing::inputErrorMessage([&] { SafetensorsFile::open(file); });
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    return message;
  }
};

TEST_F(SafetensorsTest, HandWrittenSpecLayoutIsReadExactly) {
  std::string json = R"({"__metadata__":{"format":"pt","note":"hand made"},)"
                     R"("b":{"dtype":"I32","shape":[],"data_offsets":[8,12]},)"
                     R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  )";
  int32_t seven = 7;
  std::string data = floatBytes({1.5f, -2.25f}) + std::string(reinterpret_cast<char*>(&seven), 4);
  auto file = SafetensorsFile::open(write("hand.safetensors", specFile(json, data)));
  ASSERT_EQ(file.tensors().size(), 2u);
  const auto& a = file.tensor("a");
  EXPECT_EQ(a.dtype, SafetensorsDtype::F32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(file.metadata().at("note"), "hand made");
  auto tensor = workloads::loadTensor(file, a);
  EXPECT_EQ(tensor[0].item<float>(), 1.5f);
  EXPECT_EQ(tensor[1].item<float>(), -2.25f);
  auto scalar = workloads::loadTensor(file, file.tensor("b"));
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<int32_t>(), 7);
}

TEST_F(SafetensorsTest, WrittenFilesFollowTheSpecsByteLayout) {
  auto path = dir_ / "w.safetensors";
  std::vector<NamedTensor> tensors{{"small", at::arange(3, at::kByte)},
                                   {"big", at::arange(5, at::kLong)}};
  workloads::saveTensors(path, tensors, {{"k", "v"}});
  std::string bytes = readAll(path);
  uint64_t length = 0;
  std::memcpy(&length, bytes.data(), 8);
  ASSERT_LE(8 + length, bytes.size());
  EXPECT_EQ((8 + length) % 8, 0u) << "header padding must align the data to 8 bytes";
  std::string header = bytes.substr(8, length);
  EXPECT_EQ(header.front(), '{');
  auto json = nlohmann::json::parse(header);  // trailing padding is spaces, valid JSON
  EXPECT_EQ(json["__metadata__"]["k"], "v");
  // Wider dtypes first: the I64 tensor starts the data, so every tensor is aligned.
  EXPECT_EQ(json["big"]["data_offsets"], nlohmann::json({0, 40}));
  EXPECT_EQ(json["small"]["data_offsets"], nlohmann::json({40, 43}));
  EXPECT_EQ(json["small"]["dtype"], "U8");
  EXPECT_EQ(bytes.size(), 8 + length + 43);
  int64_t third = 0;
  std::memcpy(&third, bytes.data() + 8 + length + 2 * 8, 8);
  EXPECT_EQ(third, 2);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
}

TEST_F(SafetensorsTest, EveryDtypeRoundTrips) {
  auto floats = at::randn({3, 4});
  std::vector<NamedTensor> tensors{
      {"f32", floats},
      {"f16", floats.to(at::kHalf)},
      {"bf16", floats.to(at::kBFloat16)},
      {"i64", at::randint(-1000000, 1000000, {5}, at::kLong) * 1000000},
      {"i32", at::randint(-100000, 100000, {2, 2}, at::kInt)},
      {"u8", at::randint(0, 256, {7}, at::kByte)},
      {"bool", at::randint(0, 2, {6}, at::kLong).to(at::kBool)},
      {"empty", at::empty({0, 3})},
      {"strided", floats.t()}};  // not contiguous: written as its values in row-major order
  auto path = dir_ / "all.safetensors";
  workloads::saveTensors(path, tensors);
  auto file = SafetensorsFile::open(path);
  for (const auto& named : tensors) {
    SCOPED_TRACE(named.name);
    auto stored = workloads::loadTensor(file, file.tensor(named.name), FloatLoad::AsStored);
    EXPECT_EQ(stored.scalar_type(), named.tensor.scalar_type());
    EXPECT_TRUE(at::equal(stored, named.tensor));
    auto widened = workloads::loadTensor(file, file.tensor(named.name));
    if (named.tensor.scalar_type() == at::kHalf || named.tensor.scalar_type() == at::kBFloat16) {
      EXPECT_EQ(widened.scalar_type(), at::kFloat);
      // Exact: narrowing the widened values again gives back every bit.
      EXPECT_TRUE(at::equal(widened.to(named.tensor.scalar_type()), named.tensor));
      EXPECT_TRUE(at::equal(widened, named.tensor.to(at::kFloat)));
    }
  }
  EXPECT_EQ(file.tensor("bf16").dtype, SafetensorsDtype::BF16);
  EXPECT_EQ(file.tensor("bool").dtype, SafetensorsDtype::Bool);
}

TEST_F(SafetensorsTest, ViewsShareTheMappingAndOutliveTheFile) {
  auto weights = at::randn({16, 8});
  auto path = dir_ / "v.safetensors";
  std::vector<NamedTensor> tensors{{"w", weights}};
  workloads::saveTensors(path, tensors);
  at::Tensor view;
  {
    auto file = SafetensorsFile::open(path);
    view = workloads::viewTensor(file, file.tensor("w"));
    auto mapped = file.mapping()->bytes();
    auto* data = static_cast<const std::byte*>(view.data_ptr());
    EXPECT_GE(data, mapped.data());
    EXPECT_LE(data + view.nbytes(), mapped.data() + mapped.size()) << "the view is not a copy";
  }
  EXPECT_TRUE(at::equal(view, weights)) << "the view must keep the mapping alive";
}

TEST_F(SafetensorsTest, UnalignedDataCannotBeViewedButLoads) {
  std::string json = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[1,5]}})";
  json.append((8 - json.size() % 8) % 8, ' ');
  auto file =
      SafetensorsFile::open(write("odd.safetensors", specFile(json, "x" + floatBytes({3}))));
  auto message = testing::inputErrorMessage([&] { workloads::viewTensor(file, file.tensor("b")); });
  EXPECT_NE(message.find("'b'"), std::string::npos) << message;
  EXPECT_EQ(workloads::loadTensor(file, file.tensor("b")).item<float>(), 3.0f);
  auto destination = at::zeros({1});
  workloads::copyTensorInto(file, file.tensor("b"), destination);
  EXPECT_EQ(destination.item<float>(), 3.0f);
}

TEST_F(SafetensorsTest, ShardedWriteAndReadWithAnIndex) {
  std::vector<NamedTensor> tensors;
  for (int i = 0; i < 5; ++i) tensors.push_back({"t" + std::to_string(i), at::randn({64})});
  workloads::ShardingOptions options;
  options.maxShardBytes = 600;  // two 256-byte tensors per shard
  auto written = workloads::saveTensorsSharded(dir_, tensors, {{"k", "v"}}, options);
  ASSERT_EQ(written.size(), 4u);  // 3 shards and the index
  EXPECT_EQ(written[0].filename(), "model-00001-of-00003.safetensors");
  auto index = nlohmann::json::parse(readAll(dir_ / workloads::kSafetensorsIndexName));
  EXPECT_EQ(index["weight_map"]["t4"], "model-00003-of-00003.safetensors");
  EXPECT_EQ(index["metadata"]["total_size"], 5 * 256);
  auto shards = SafetensorsShards::open(dir_);
  EXPECT_EQ(shards.files().size(), 3u);
  ASSERT_EQ(shards.tensors().size(), 5u);
  EXPECT_EQ(shards.totalBytes(), 5u * 256);
  EXPECT_EQ(shards.indexMetadata().at("total_size"), "1280");
  for (const auto& named : tensors) {
    const auto& entry = shards.at(named.name);
    EXPECT_TRUE(at::equal(workloads::loadTensor(*entry.file, *entry.tensor), named.tensor));
    EXPECT_EQ(entry.file->metadata().at("k"), "v");
  }
  // Saving again in one file replaces the index: the directory is never ambiguous.
  workloads::saveTensorsSharded(dir_, tensors, {});
  EXPECT_FALSE(fs::exists(dir_ / workloads::kSafetensorsIndexName));
  EXPECT_EQ(SafetensorsShards::open(dir_).files().size(), 1u);
}

TEST_F(SafetensorsTest, HeaderLengthPastTheFileOrTooShort) {
  auto message = openError(littleEndian64(1000) + "{}");
  EXPECT_NE(message.find("header length 1000 runs past the end"), std::string::npos) << message;
  message = openError("abc");
  EXPECT_NE(message.find("too short"), std::string::npos) << message;
  message = openError(littleEndian64(~uint64_t{0}) + "{}");
  EXPECT_NE(message.find("above the limit"), std::string::npos) << message;
  message = openError(specFile("[1, 2]  ", ""));
  EXPECT_NE(message.find("does not start with '{'"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, MalformedJsonIsAnError) {
  auto message = openError(specFile(R"({"a":{"dtype":"F32",)", ""));
  EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
  message = openError(specFile(R"({"__metadata__":{"n":3}})", ""));
  EXPECT_NE(message.find("__metadata__"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, OffsetProblemsNameTheTensor) {
  auto out = openError(
      specFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", floatBytes({1})));
  EXPECT_NE(out.find("'w'"), std::string::npos) << out;
  EXPECT_NE(out.find("run past the end of the data"), std::string::npos) << out;
  auto overlap = openError(specFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                    floatBytes({1, 2})));
  EXPECT_NE(overlap.find("'b'"), std::string::npos) << overlap;
  EXPECT_NE(overlap.find("overlaps tensor 'a'"), std::string::npos) << overlap;
  auto gap = openError(
      specFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", floatBytes({1, 2})));
  EXPECT_NE(gap.find("[0, 4) before tensor 'a' belong to no tensor"), std::string::npos) << gap;
  auto trailing = openError(
      specFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floatBytes({1, 2})));
  EXPECT_NE(trailing.find("[4, 8) at the end belong to no tensor"), std::string::npos) << trailing;
  auto backwards = openError(
      specFile(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", floatBytes({1})));
  EXPECT_NE(backwards.find("'a'"), std::string::npos) << backwards;
  auto notNumbers =
      openError(specFile(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", "x"));
  EXPECT_NE(notNumbers.find("'a'"), std::string::npos) << notNumbers;
}

TEST_F(SafetensorsTest, TruncatedFileNamesTheTensorThatRunsPastTheEnd) {
  auto path = dir_ / "whole.safetensors";
  std::vector<NamedTensor> tensors{{"first", at::randn({8})}, {"second", at::randn({8})}};
  workloads::saveTensors(path, tensors);
  std::string bytes = readAll(path);
  auto message = openError(bytes.substr(0, bytes.size() - 3));
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("'second'"), std::string::npos) << message;  // "first" is at offset 0
  message = openError(bytes.substr(0, 20));
  EXPECT_NE(message.find("runs past the end of the file"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, DtypeAndShapeProblemsNameTheTensor) {
  auto unknown =
      openError(specFile(R"({"q":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}})", "x"));
  EXPECT_NE(unknown.find("tensor 'q': unknown dtype 'Q7' (supported: F32, F16, BF16"),
            std::string::npos)
      << unknown;
  auto unsupported =
      openError(specFile(R"({"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", "12345678"));
  EXPECT_NE(unsupported.find("tensor 'd': dtype 'F64' is not supported"), std::string::npos)
      << unsupported;
  auto wrongSize =
      openError(specFile(R"({"m":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}})", "1234"));
  EXPECT_NE(wrongSize.find("tensor 'm'"), std::string::npos) << wrongSize;
  EXPECT_NE(wrongSize.find("F16 [3] needs 6"), std::string::npos) << wrongSize;
  auto negative =
      openError(specFile(R"({"n":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", ""));
  EXPECT_NE(negative.find("tensor 'n': shape [-1]"), std::string::npos) << negative;
  auto huge = openError(specFile(
      R"({"h":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})", ""));
  EXPECT_NE(huge.find("tensor 'h'"), std::string::npos) << huge;
  auto twice = openError(specFile(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                  R"("t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                                  "x"));
  EXPECT_NE(twice.find("tensor 't' appears twice"), std::string::npos) << twice;
  auto field = openError(
      specFile(R"({"f":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":1}})", "x"));
  EXPECT_NE(field.find("tensor 'f': unknown field 'extra'"), std::string::npos) << field;
}

TEST_F(SafetensorsTest, BoolBytesOtherThanZeroAndOneAreRejectedOnLoad) {
  auto file = SafetensorsFile::open(
      write("b.safetensors",
            specFile(R"({"flags":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}    )",
                     std::string("\x01\x02\x00", 3))));
  auto message =
      testing::inputErrorMessage([&] { workloads::loadTensor(file, file.tensor("flags")); });
  EXPECT_NE(message.find("tensor 'flags': BOOL element 1 is 2"), std::string::npos) << message;
}

TEST_F(SafetensorsTest, MissingTensorAndShapeMismatchNameTheTensorAndFile) {
  auto path = dir_ / "m.safetensors";
  std::vector<NamedTensor> tensors{{"w", at::randn({2, 3})}};
  workloads::saveTensors(path, tensors);
  auto file = SafetensorsFile::open(path);
  auto missing = testing::inputErrorMessage([&] { file.tensor("nope"); });
  EXPECT_NE(missing.find("no tensor 'nope'"), std::string::npos) << missing;
  EXPECT_NE(missing.find(path.string()), std::string::npos) << missing;
  auto destination = at::zeros({3, 2});
  auto shape = testing::inputErrorMessage(
      [&] { workloads::copyTensorInto(file, file.tensor("w"), destination); });
  EXPECT_NE(shape.find("tensor 'w' has shape [2, 3], expected [3, 2]"), std::string::npos) << shape;
}

class SafetensorsShardsTest : public SafetensorsTest {
 protected:
  void SetUp() override {
    SafetensorsTest::SetUp();
    std::vector<NamedTensor> tensors{{"a", at::randn({64})}, {"b", at::randn({64})}};
    workloads::ShardingOptions options;
    options.maxShardBytes = 256;
    workloads::saveTensorsSharded(dir_, tensors, {}, options);
  }
  std::string openWithIndex(const nlohmann::json& index) {
    std::ofstream(dir_ / workloads::kSafetensorsIndexName) << index.dump();
    return testing::inputErrorMessage([&] { SafetensorsShards::open(dir_); });
  }
  const std::string shard1 = "model-00001-of-00002.safetensors";
  const std::string shard2 = "model-00002-of-00002.safetensors";
};

TEST_F(SafetensorsShardsTest, IndexAndShardsMustAgree) {
  auto missing = openWithIndex({{"weight_map", {{"a", shard1}, {"b", shard2}, {"c", shard2}}}});
  EXPECT_NE(missing.find("tensor 'c' in shard " + shard2 + ", which does not hold it"),
            std::string::npos)
      << missing;
  std::ofstream(dir_ / workloads::kSafetensorsIndexName)
      << nlohmann::json({{"weight_map", {{"a", shard1}}}}).dump();
  auto partial = SafetensorsShards::open(dir_);  // b's shard is not named, so not opened
  EXPECT_EQ(partial.tensors().size(), 1u);
  auto notThere = testing::inputErrorMessage([&] { partial.at("b"); });
  EXPECT_NE(notThere.find("has no tensor 'b'"), std::string::npos) << notThere;
  auto extra = openWithIndex({{"weight_map", {{"a", shard1}, {"b", shard1}}}});
  EXPECT_NE(extra.find("'b'"), std::string::npos) << extra;
  auto escape = openWithIndex({{"weight_map", {{"a", "../" + shard1}}}});
  EXPECT_NE(escape.find("not a plain file name"), std::string::npos) << escape;
  auto noMap = openWithIndex({{"metadata", {}}});
  EXPECT_NE(noMap.find("weight_map"), std::string::npos) << noMap;
}

TEST_F(SafetensorsShardsTest, ExtraTensorInAShardIsAnError) {
  std::vector<NamedTensor> three{{"b", at::randn({64})}, {"stray", at::randn({2})}};
  workloads::saveTensors(dir_ / shard2, three);
  auto message = testing::inputErrorMessage([&] { SafetensorsShards::open(dir_); });
  EXPECT_NE(message.find("tensor 'stray' is in shard " + shard2), std::string::npos) << message;
  EXPECT_NE(message.find("does not list it"), std::string::npos) << message;
}

TEST_F(SafetensorsShardsTest, BothLayoutsInOneDirectoryAreAmbiguous) {
  std::vector<NamedTensor> one{{"a", at::randn({2})}};
  workloads::saveTensors(dir_ / workloads::kSafetensorsFileName, one);
  auto message = testing::inputErrorMessage([&] { SafetensorsShards::open(dir_); });
  EXPECT_NE(message.find("holds both"), std::string::npos) << message;
}

}  // namespace
}  // namespace moeprof
