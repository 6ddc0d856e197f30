#pragma once
// A small table of strings with per-column alignment, rendered either for a terminal (padded
// columns under an underlined header) or as a GitHub Markdown pipe table (CI summaries). Every
// report that prints rows uses it, so tables look the same everywhere.
#include <string>
#include <vector>

namespace moeprof::reports {

enum class Align { Left, Right };

class Table {
 public:
  // Columns without an alignment given are left-aligned; more alignments than headers is a
  // programming error (std::invalid_argument).
  explicit Table(std::vector<std::string> headers, std::vector<Align> alignments = {});

  // Throws std::invalid_argument unless the row has exactly one cell per column.
  void addRow(std::vector<std::string> cells);

  size_t numColumns() const { return headers_.size(); }
  size_t numRows() const { return rows_.size(); }
  const std::vector<std::string>& headers() const { return headers_; }
  const std::vector<Align>& alignments() const { return alignments_; }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }

  // Columns separated by two spaces, widths in UTF-8 code points, no trailing spaces; every
  // line ends with '\n'.
  std::string toText() const;
  // Pipe table with an alignment row (":---" / "---:"); '|' in cells is escaped and line
  // breaks become spaces, so a cell can never break the table.
  std::string toMarkdown() const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> alignments_;
  std::vector<std::vector<std::string>> rows_;
};

// `value` rounded to `significantDigits` (>= 1) significant digits, in plain decimal notation
// (never an exponent), trailing zeros dropped: 1234.5 -> "1234.5" (6 digits), 0.012345 ->
// "0.0123" (3 digits). Digits left of the point are never dropped: 1234567 -> "1234567" (3
// digits). Decimals stop at 15, so magnitudes below 1e-15 print as "0". NaN -> "nan",
// infinities -> "inf" / "-inf".
std::string formatNumber(double value, int significantDigits = 3);

// A byte count in binary units with three significant digits: "512 B", "1.25 GiB", "10.5 MiB".
std::string formatBytes(double bytes);

// A ratio with two decimals and an "x": "6.21x", "1.00x"; ratios below 0.01 keep two
// significant digits ("0.0012x") and ratios from 1000 up drop decimals ("1234x").
std::string formatRatio(double ratio);

}  // namespace moeprof::reports
