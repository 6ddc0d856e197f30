#include "collector/routing_log.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <string>

#include "collector/errors.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"

namespace moeprof::collector {
namespace {

class RoutingLogTest : public moeprof::testing::TempDirTest {
 protected:
  std::filesystem::path file(const std::string& name = "routing.bin") const { return dir_ / name; }

  static RoutingLogHeader header() {
    RoutingLogHeader header;
    header.model = "mt-cpu";
    header.numExperts = 8;
    header.topK = 2;
    header.layers = {{LayerStack::Encoder, 1}, {LayerStack::Encoder, 3}, {LayerStack::Decoder, 1}};
    return header;
  }

  static RoutingRecord record(uint32_t batch, uint32_t moeLayer, uint32_t numTokens) {
    RoutingRecord record;
    record.batch = batch;
    record.moeLayer = moeLayer;
    record.numTokens = numTokens;
    for (uint32_t t = 0; t < numTokens; ++t) {
      record.experts.push_back(static_cast<uint16_t>((t + batch) % 8));
      record.experts.push_back(static_cast<uint16_t>((t + batch + 3) % 8));
      record.gateWeights.push_back(0.6f + 0.01f * static_cast<float>(t));
      record.gateWeights.push_back(0.4f - 0.01f * static_cast<float>(t));
    }
    return record;
  }

  void writeBytes(const std::filesystem::path& path, const std::string& bytes) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  std::string readBytes(const std::filesystem::path& path) const {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string writeValidLog() const {
    RoutingLogWriter writer(file(), header());
    writer.append(record(0, 0, 4));
    writer.append(record(0, 1, 4));
    writer.flush();
    return readBytes(file());
  }
};

using moeprof::testing::inputErrorMessage;

TEST_F(RoutingLogTest, RoundTripKeepsHeaderIdsDropFlagsAndWeights) {
  std::vector<RoutingRecord> written = {record(0, 0, 5), record(0, 1, 3), record(1, 2, 7)};
  written[1].experts[2] |= kDroppedFlag;
  written[2].experts[0] |= kDroppedFlag;
  written[2].step = 6;
  written.push_back(record(2, 2, 0));  // an empty batch is legal
  {
    RoutingLogWriter writer(file(), header());
    for (const auto& r : written) writer.append(r);
  }
  RoutingLog log = readRoutingLog(file());
  EXPECT_EQ(log.header, header());
  ASSERT_EQ(log.records.size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    const RoutingRecord& got = log.records[i];
    EXPECT_EQ(got.batch, written[i].batch);
    EXPECT_EQ(got.moeLayer, written[i].moeLayer);
    EXPECT_EQ(got.step, written[i].step);
    EXPECT_EQ(got.numTokens, written[i].numTokens);
    EXPECT_EQ(got.experts, written[i].experts);
    ASSERT_EQ(got.gateWeights.size(), written[i].gateWeights.size());
    for (size_t j = 0; j < got.gateWeights.size(); ++j) {
      EXPECT_NEAR(got.gateWeights[j], written[i].gateWeights[j],
                  1e-2 * std::fabs(written[i].gateWeights[j]));
    }
  }
  EXPECT_TRUE(log.records[1].experts[2] & kDroppedFlag);
  EXPECT_FALSE(log.records[1].experts[1] & kDroppedFlag);
}

TEST_F(RoutingLogTest, ReaderStreamsRecordsThenReportsEnd) {
  writeValidLog();
  RoutingLogReader reader(file());
  EXPECT_EQ(reader.header().model, "mt-cpu");
  EXPECT_TRUE(reader.next().has_value());
  EXPECT_TRUE(reader.next().has_value());
  EXPECT_FALSE(reader.next().has_value());
  EXPECT_FALSE(reader.next().has_value());
}

TEST_F(RoutingLogTest, LayoutMatchesDocumentedOffsets) {
  std::string bytes = writeValidLog();
  ASSERT_GE(bytes.size(), 20u);
  EXPECT_EQ(bytes.substr(0, 8), "MOEROUTE");
  EXPECT_EQ(static_cast<uint8_t>(bytes[8]), kRoutingLogVersion);  // u32 LE version
  uint32_t headerBytes = static_cast<uint8_t>(bytes[12]) | (static_cast<uint8_t>(bytes[13]) << 8);
  // model "mt-cpu" (4 + 6) + numExperts, topK, numLayers (12) + 3 layers * 5
  EXPECT_EQ(headerBytes, 4u + 6u + 12u + 15u);
  // Two records of 4 tokens * top-2: 16 fixed bytes + 8 ids * 2 + 8 weights * 2.
  EXPECT_EQ(bytes.size(), 16u + headerBytes + 2 * (16u + 16u + 16u));
}

TEST(Bfloat16, RoundsToNearestEvenAndKeepsSpecials) {
  EXPECT_EQ(floatToBfloat16(1.0f), 0x3F80);
  EXPECT_EQ(bfloat16ToFloat(0x3F80), 1.0f);
  // 1 + 2^-8 lies exactly between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(floatToBfloat16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  // 1 + 3 * 2^-8 lies between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up to even.
  EXPECT_EQ(floatToBfloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_EQ(floatToBfloat16(-2.0f), 0xC000);
  EXPECT_TRUE(std::isnan(bfloat16ToFloat(floatToBfloat16(std::nanf("")))));
  EXPECT_TRUE(std::isinf(bfloat16ToFloat(floatToBfloat16(INFINITY))));
}

TEST_F(RoutingLogTest, WrongMagicIsRejected) {
  std::string bytes = writeValidLog();
  bytes[0] = 'X';
  writeBytes(file(), bytes);
  std::string message = inputErrorMessage([&] { RoutingLogReader reader(file()); });
  EXPECT_NE(message.find("not a routing log"), std::string::npos) << message;
  EXPECT_NE(message.find(file().string()), std::string::npos) << message;
}

TEST_F(RoutingLogTest, UnsupportedVersionIsRejected) {
  std::string bytes = writeValidLog();
  bytes[8] = 2;
  writeBytes(file(), bytes);
  std::string message = inputErrorMessage([&] { readRoutingLog(file()); });
  EXPECT_NE(message.find("version 2 is not supported"), std::string::npos) << message;
}

TEST_F(RoutingLogTest, TruncatedHeaderIsRejected) {
  std::string bytes = writeValidLog();
  writeBytes(file(), bytes.substr(0, 24));  // prefix plus part of the header
  std::string message = inputErrorMessage([&] { RoutingLogReader reader(file()); });
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("byte offset 16"), std::string::npos) << message;
}

TEST_F(RoutingLogTest, FileShorterThanPrefixIsRejected) {
  writeBytes(file(), "MOER");
  std::string message = inputErrorMessage([&] { RoutingLogReader reader(file()); });
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
}

TEST_F(RoutingLogTest, HeaderLengthTooShortForFieldsIsRejected) {
  std::string bytes = writeValidLog();
  bytes[12] = 10;  // claims 10 header bytes: the model name fits, numExperts does not
  writeBytes(file(), bytes);
  std::string message = inputErrorMessage([&] { RoutingLogReader reader(file()); });
  EXPECT_NE(message.find("numExperts"), std::string::npos) << message;
  EXPECT_NE(message.find("byte offset 26"), std::string::npos) << message;
}

TEST_F(RoutingLogTest, TruncatedRecordNamesFileAndOffset) {
  std::string bytes = writeValidLog();
  size_t headerEnd = 16 + 37;
  size_t secondRecord = headerEnd + 48;
  writeBytes(file(), bytes.substr(0, bytes.size() - 5));
  RoutingLogReader reader(file());
  ASSERT_TRUE(reader.next().has_value());
  std::string message = inputErrorMessage([&] { reader.next(); });
  EXPECT_NE(message.find(file().string()), std::string::npos) << message;
  EXPECT_NE(message.find("truncated record"), std::string::npos) << message;
  // The payload of the second record starts after its 16 fixed bytes.
  EXPECT_NE(message.find("byte offset " + std::to_string(secondRecord + 16)), std::string::npos)
      << message;
}

TEST_F(RoutingLogTest, TruncatedRecordFixedPartIsRejected) {
  std::string bytes = writeValidLog();
  writeBytes(file(), bytes + std::string(7, '\0'));  // a partial third record
  // Record by record, strictly (readRoutingLog reads the two whole ones with a warning).
  std::string message = inputErrorMessage([&] {
    RoutingLogReader reader(file());
    while (reader.next()) {
    }
  });
  EXPECT_NE(message.find("byte offset " + std::to_string(bytes.size())), std::string::npos)
      << message;
}

TEST_F(RoutingLogTest, AbsurdTokenCountIsRejectedWithoutAllocating) {
  std::string bytes = writeValidLog();
  size_t numTokensOffset = 16 + 37 + 12;
  bytes[numTokensOffset + 3] = 0x7F;  // numTokens ~ 2^30
  writeBytes(file(), bytes);
  std::string message = inputErrorMessage([&] { readRoutingLog(file()); });
  EXPECT_NE(message.find("corrupt"), std::string::npos) << message;
}

TEST_F(RoutingLogTest, MoeLayerOutOfRangeIsRejectedOnReadAndWrite) {
  std::string bytes = writeValidLog();
  bytes[16 + 37 + 4] = 9;  // first record's moeLayer: the header has 3 layers
  writeBytes(file(), bytes);
  std::string message = inputErrorMessage([&] { readRoutingLog(file()); });
  EXPECT_NE(message.find("moeLayer 9 is out of range"), std::string::npos) << message;

  RoutingLogWriter writer(file("other.bin"), header());
  message = inputErrorMessage([&] { writer.append(record(0, 3, 2)); });
  EXPECT_NE(message.find("moeLayer 3"), std::string::npos) << message;
}

TEST_F(RoutingLogTest, ExpertIdOutOfRangeIsRejectedOnReadAndWrite) {
  RoutingLogWriter writer(file("other.bin"), header());
  RoutingRecord bad = record(0, 0, 2);
  bad.experts[1] = 8 | kDroppedFlag;  // the flag does not hide an id beyond numExperts
  std::string message = inputErrorMessage([&] { writer.append(bad); });
  EXPECT_NE(message.find("expert id 8"), std::string::npos) << message;

  std::string bytes = writeValidLog();
  bytes[16 + 37 + 16] = 12;  // first expert id of the first record
  writeBytes(file(), bytes);
  message = inputErrorMessage([&] { readRoutingLog(file()); });
  EXPECT_NE(message.find("expert id 12"), std::string::npos) << message;
}

TEST_F(RoutingLogTest, WriterRejectsRecordWithWrongSizes) {
  RoutingLogWriter writer(file(), header());
  RoutingRecord bad = record(0, 0, 3);
  bad.gateWeights.pop_back();
  std::string message = inputErrorMessage([&] { writer.append(bad); });
  EXPECT_NE(message.find("numTokens * topK = 6"), std::string::npos) << message;
  bad = record(0, 0, 3);
  bad.numTokens = 4;
  EXPECT_THROW(writer.append(bad), InputError);
}

TEST_F(RoutingLogTest, WriterRejectsInvalidHeader) {
  RoutingLogHeader bad = header();
  bad.topK = 9;
  EXPECT_THROW(RoutingLogWriter(file(), bad), InputError);
  bad = header();
  bad.numExperts = kMaxExperts + 1;
  EXPECT_THROW(RoutingLogWriter(file(), bad), InputError);
}

TEST_F(RoutingLogTest, WriterTruncatesExistingFile) {
  writeBytes(file(), std::string(4096, 'z'));
  { RoutingLogWriter writer(file(), header()); }
  RoutingLog log = readRoutingLog(file());
  EXPECT_TRUE(log.records.empty());
}

TEST_F(RoutingLogTest, UnwritablePathThrowsRuntimeError) {
  EXPECT_THROW(RoutingLogWriter(dir_ / "missing" / "routing.bin", header()), std::runtime_error);
}

TEST_F(RoutingLogTest, MissingFileIsInputError) {
  std::string message = inputErrorMessage([&] { RoutingLogReader reader(file("absent.bin")); });
  EXPECT_NE(message.find("absent.bin"), std::string::npos) << message;
}

TEST(LayerStackName, NamesEveryStack) {
  EXPECT_STREQ(layerStackName(LayerStack::Lm), "lm");
  EXPECT_STREQ(layerStackName(LayerStack::Encoder), "encoder");
  EXPECT_STREQ(layerStackName(LayerStack::Decoder), "decoder");
}

}  // namespace
}  // namespace moeprof::collector
