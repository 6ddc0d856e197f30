#include "reports/table.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace moeprof::reports {
namespace {

Table sampleTable() {
  Table table({"metric", "value"}, {Align::Left, Align::Right});
  table.addRow({"latency_ms", "12.5"});
  table.addRow({"tokens", "1234567"});
  return table;
}

TEST(Table, TextAlignsColumnsUnderUnderlinedHeader) {
  EXPECT_EQ(sampleTable().toText(),
            "metric        value\n"
            "----------  -------\n"
            "latency_ms     12.5\n"
            "tokens      1234567\n");
}

TEST(Table, TextCountsUtf8CodePointsAndTrimsTrailingSpaces) {
  Table table({"unit", "x"});
  table.addRow({"µs", "1"});
  table.addRow({"seconds", ""});
  EXPECT_EQ(table.toText(),
            "unit     x\n"
            "-------  -\n"
            "µs       1\n"
            "seconds\n");
}

TEST(Table, MarkdownHasAlignmentRowAndEscapesPipes) {
  Table table({"key", "n"}, {Align::Left, Align::Right});
  table.addRow({"a|b", "3"});
  table.addRow({"two\nlines", "4"});
  EXPECT_EQ(table.toMarkdown(),
            "| key | n |\n"
            "| :--- | ---: |\n"
            "| a\\|b | 3 |\n"
            "| two lines | 4 |\n");
}

TEST(Table, MissingAlignmentsDefaultToLeft) {
  Table table({"a", "b", "c"}, {Align::Right});
  EXPECT_EQ(table.alignments(), (std::vector<Align>{Align::Right, Align::Left, Align::Left}));
  EXPECT_EQ(table.numColumns(), 3u);
  EXPECT_EQ(table.numRows(), 0u);
}

TEST(Table, RejectsWrongCellCountAndTooManyAlignments) {
  Table table({"a", "b"});
  EXPECT_THROW(table.addRow({"only one"}), std::invalid_argument);
  EXPECT_THROW(table.addRow({"1", "2", "3"}), std::invalid_argument);
  EXPECT_EQ(table.numRows(), 0u);
  EXPECT_THROW(Table({"a"}, {Align::Left, Align::Right}), std::invalid_argument);
}

TEST(FormatNumber, SignificantDigitsWithoutExponent) {
  EXPECT_EQ(formatNumber(1234.5, 5), "1234.5");
  EXPECT_EQ(formatNumber(0.012345, 3), "0.0123");
  EXPECT_EQ(formatNumber(1.23e9, 3), "1230000000");
  EXPECT_EQ(formatNumber(1234567.0, 3), "1234567");
  EXPECT_EQ(formatNumber(2.5, 3), "2.5");
  EXPECT_EQ(formatNumber(100.0, 3), "100");
  EXPECT_EQ(formatNumber(9.996, 3), "10");
  EXPECT_EQ(formatNumber(-0.000123456, 2), "-0.00012");
  EXPECT_EQ(formatNumber(0.0), "0");
  EXPECT_EQ(formatNumber(-1e-20), "0");
}

TEST(FormatNumber, NonFiniteAndBadDigits) {
  EXPECT_EQ(formatNumber(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(formatNumber(INFINITY), "inf");
  EXPECT_EQ(formatNumber(-INFINITY), "-inf");
  EXPECT_THROW(formatNumber(1.0, 0), std::invalid_argument);
  EXPECT_EQ(formatNumber(std::numeric_limits<double>::max(), 3).size(), 309u);
}

TEST(FormatBytes, BinaryUnitsThreeDigits) {
  EXPECT_EQ(formatBytes(0), "0 B");
  EXPECT_EQ(formatBytes(512), "512 B");
  EXPECT_EQ(formatBytes(1023), "1023 B");
  EXPECT_EQ(formatBytes(1024), "1 KiB");
  EXPECT_EQ(formatBytes(1.25 * 1024 * 1024 * 1024), "1.25 GiB");
  EXPECT_EQ(formatBytes(10.5 * 1024 * 1024), "10.5 MiB");
  EXPECT_EQ(formatBytes(1023.9 * 1024), "1 MiB");  // never "1024 KiB"
  EXPECT_EQ(formatBytes(-2048), "-2 KiB");
}

TEST(FormatRatio, TwoDecimalsWithSuffix) {
  EXPECT_EQ(formatRatio(6.2149), "6.21x");
  EXPECT_EQ(formatRatio(1.0), "1.00x");
  EXPECT_EQ(formatRatio(0.5), "0.50x");
  EXPECT_EQ(formatRatio(0.0012345), "0.0012x");
  EXPECT_EQ(formatRatio(0.0), "0.00x");
  EXPECT_EQ(formatRatio(1234.6), "1235x");
  EXPECT_EQ(formatRatio(INFINITY), "infx");
}

}  // namespace
}  // namespace moeprof::reports
