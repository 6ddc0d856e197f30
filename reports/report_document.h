#pragma once
// A report as plain content, before it is written: sections of paragraphs, notes, tables and
// charts (chart descriptions, reports/charts/chart.h). The builders (report_builder.h) fill it
// from analysis results; the writers (report_writers.h) turn the same document into HTML,
// Markdown and JSON, so that the three always show the same numbers.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "reports/charts/chart.h"
#include "reports/table.h"

namespace moeprof::reports {

// One piece of a section, in reading order.
struct ReportBlock {
  enum class Kind { Paragraph, Note, Table, Chart };
  Kind kind = Kind::Paragraph;
  std::string text{};  // Paragraph and Note; the caption of a Table
  std::optional<Table> table{};
  std::optional<charts::Chart> chart{};
};

struct ReportSection {
  std::string title{};
  std::string anchor{};  // unique within the document, for links
  int level = 2;         // 2: a top-level section, 3: a subsection
  std::vector<ReportBlock> blocks{};

  void paragraph(std::string text);
  // A remark the reader must not miss (incomplete run, what was left out and why).
  void note(std::string text);
  void table(Table table, std::string caption = "");
  void chart(charts::Chart chart);
};

struct ReportDocument {
  std::string title{};
  std::string tool{};                   // "moeprof 0.1.0"
  std::vector<std::string> inputs{};    // as given on the command line
  std::vector<std::string> warnings{};  // incomplete runs and other caveats, shown first
  std::vector<ReportSection> sections{};

  // A new section with an anchor derived from the title (made unique).
  ReportSection& section(const std::string& title, int level = 2);
  // Every chart of the document, in order.
  std::vector<const charts::Chart*> charts() const;
  // Makes chart ids unique across the document (suffixes -2, -3, ...); builders call it once
  // at the end so that writers can name one file per chart.
  void uniquifyChartIds();

 private:
  std::set<std::string> anchors_;
};

// A file-name and anchor safe version of `text`: lowercase letters, digits and dashes.
std::string slug(const std::string& text);

}  // namespace moeprof::reports
