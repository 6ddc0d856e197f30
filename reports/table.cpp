#include "reports/table.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace moeprof::reports {

namespace {

constexpr int kMaxDecimals = 15;

// Display width in code points: UTF-8 continuation bytes (10xxxxxx) take no column. Good enough
// for the units and symbols reports use ("µs", "×"); wide CJK glyphs are not expected.
size_t displayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string pad(const std::string& text, size_t width, Align align) {
  std::string padding(width - std::min(width, displayWidth(text)), ' ');
  return align == Align::Right ? padding + text : text + padding;
}

std::string trimRight(std::string line) {
  line.erase(line.find_last_not_of(' ') + 1);
  return line;
}

std::string markdownCell(const std::string& text) {
  std::string cell;
  for (char c : text) {
    if (c == '|') {
      cell += "\\|";
    } else if (c == '\n' || c == '\r') {
      cell += ' ';
    } else {
      cell += c;
    }
  }
  return cell;
}

std::string nonFinite(double value) {
  if (std::isnan(value)) return "nan";
  return value > 0 ? "inf" : "-inf";
}

std::string printFixed(double value, int decimals) {
  std::array<char, 400> buffer{};  // DBL_MAX printed with %.0f has 309 digits
  std::snprintf(buffer.data(), buffer.size(), "%.*f", decimals, value);
  return buffer.data();
}

std::string stripTrailingZeros(std::string text) {
  if (text.find('.') == std::string::npos) return text;
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.') text.pop_back();
  return text;
}

}  // namespace

Table::Table(std::vector<std::string> headers, std::vector<Align> alignments)
    : headers_(std::move(headers)), alignments_(std::move(alignments)) {
  if (alignments_.size() > headers_.size()) {
    throw std::invalid_argument("Table: " + std::to_string(alignments_.size()) +
                                " alignments given for " + std::to_string(headers_.size()) +
                                " columns");
  }
  alignments_.resize(headers_.size(), Align::Left);
}

void Table::addRow(std::vector<std::string> cells) {
  if (cells.size() != headers_.size()) {
    throw std::invalid_argument("Table: row has " + std::to_string(cells.size()) +
                                " cells, the table has " + std::to_string(headers_.size()) +
                                " columns");
  }
  rows_.push_back(std::move(cells));
}

std::string Table::toText() const {
  std::vector<size_t> widths(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) {
    widths[c] = displayWidth(headers_[c]);
    for (const auto& row : rows_) widths[c] = std::max(widths[c], displayWidth(row[c]));
  }
  auto renderLine = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) line += "  ";
      line += pad(cells[c], widths[c], alignments_[c]);
    }
    return trimRight(line) + "\n";
  };
  std::vector<std::string> underline;
  for (size_t width : widths) underline.emplace_back(width, '-');

  std::string text = renderLine(headers_) + renderLine(underline);
  for (const auto& row : rows_) text += renderLine(row);
  return text;
}

std::string Table::toMarkdown() const {
  auto renderLine = [](const std::vector<std::string>& cells) {
    std::string line = "|";
    for (const std::string& cell : cells) line += " " + markdownCell(cell) + " |";
    return line + "\n";
  };
  std::vector<std::string> alignmentRow;
  for (Align align : alignments_) alignmentRow.push_back(align == Align::Right ? "---:" : ":---");

  std::string text = renderLine(headers_) + renderLine(alignmentRow);
  for (const auto& row : rows_) text += renderLine(row);
  return text;
}

std::string formatNumber(double value, int significantDigits) {
  if (significantDigits < 1) {
    throw std::invalid_argument("formatNumber: significantDigits " +
                                std::to_string(significantDigits) + " must be at least 1");
  }
  if (!std::isfinite(value)) return nonFinite(value);
  if (value == 0.0) return "0";
  int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(value))));
  int decimals = std::clamp(significantDigits - 1 - magnitude, 0, kMaxDecimals);
  std::string text = stripTrailingZeros(printFixed(value, decimals));
  return text == "-0" ? "0" : text;
}

std::string formatBytes(double bytes) {
  if (!std::isfinite(bytes)) return nonFinite(bytes);
  static constexpr std::array<const char*, 7> kUnits = {"B",   "KiB", "MiB", "GiB",
                                                        "TiB", "PiB", "EiB"};
  size_t unit = 0;
  double scaled = bytes;
  // 1023.5 would print as "1024"; moving up a unit gives "1 KiB" instead.
  while (std::fabs(scaled) >= 1023.5 && unit + 1 < kUnits.size()) {
    scaled /= 1024.0;
    ++unit;
  }
  std::string number =
      unit == 0 ? stripTrailingZeros(printFixed(scaled, 0)) : formatNumber(scaled, 3);
  return number + " " + kUnits[unit];
}

std::string formatRatio(double ratio) {
  if (!std::isfinite(ratio)) return nonFinite(ratio) + "x";
  double magnitude = std::fabs(ratio);
  if (magnitude != 0.0 && magnitude < 0.01) return formatNumber(ratio, 2) + "x";
  if (magnitude >= 1000.0) return printFixed(ratio, 0) + "x";
  return printFixed(ratio, 2) + "x";
}

}  // namespace moeprof::reports
