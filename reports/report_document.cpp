#include "reports/report_document.h"

namespace moeprof::reports {

void ReportSection::paragraph(std::string text) {
  blocks.push_back({ReportBlock::Kind::Paragraph, std::move(text), std::nullopt, std::nullopt});
}

void ReportSection::note(std::string text) {
  blocks.push_back({ReportBlock::Kind::Note, std::move(text), std::nullopt, std::nullopt});
}

void ReportSection::table(Table table, std::string caption) {
  blocks.push_back({ReportBlock::Kind::Table, std::move(caption), std::move(table), std::nullopt});
}

void ReportSection::chart(charts::Chart chart) {
  blocks.push_back({ReportBlock::Kind::Chart, "", std::nullopt, std::move(chart)});
}

std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      out += c;
    } else if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "section" : out.substr(0, 80);
}

ReportSection& ReportDocument::section(const std::string& title, int level) {
  std::string anchor = slug(title);
  for (int n = 2; !anchors_.insert(anchor).second; ++n) {
    anchor = slug(title) + "-" + std::to_string(n);
  }
  sections.push_back({title, anchor, level, {}});
  return sections.back();
}

std::vector<const charts::Chart*> ReportDocument::charts() const {
  std::vector<const charts::Chart*> out;
  for (const auto& s : sections) {
    for (const auto& b : s.blocks) {
      if (b.chart) out.push_back(&*b.chart);
    }
  }
  return out;
}

void ReportDocument::uniquifyChartIds() {
  std::set<std::string> used;
  for (auto& s : sections) {
    for (auto& b : s.blocks) {
      if (!b.chart) continue;
      const std::string base = slug(b.chart->id.empty() ? b.chart->title : b.chart->id);
      std::string id = base;
      for (int n = 2; !used.insert(id).second; ++n) id = base + "-" + std::to_string(n);
      b.chart->id = id;
    }
  }
}

}  // namespace moeprof::reports
