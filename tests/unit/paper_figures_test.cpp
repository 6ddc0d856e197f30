// The papers' figures live once, in reports/paper_figures.json (compiled in): the file is
// well-formed, every figure cites a known source and says where in the paper it is, and every
// paper figure that `reproduce` prints is one of them.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/paper_figures.h"
#include "tests/support/moeprof_command.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;

TEST(PaperFigures, EmbeddedFileIsTheRepositoryFile) {
  std::ifstream in(fs::path(MOEPROF_SOURCE_DIR) / reports::kPaperFiguresFile);
  ASSERT_TRUE(in) << reports::kPaperFiguresFile;
  auto file = nlohmann::json::parse(in);
  EXPECT_EQ(file.at("figures").size(), reports::paperFigures().size());
  EXPECT_EQ(file.at("sources").size(), reports::paperSources().size());
}

TEST(PaperFigures, EachFigureIsUniqueCitedAndLocated) {
  std::set<std::tuple<std::string, std::string, std::string>> keys;
  std::set<std::string> sources;
  for (const auto& s : reports::paperSources()) {
    EXPECT_FALSE(s.citation.empty()) << s.key;
    sources.insert(s.key);
  }
  for (const auto& f : reports::paperFigures()) {
    const std::string name = f.finding + "/" + f.workload + "/" + f.scope;
    EXPECT_TRUE(keys.insert({f.finding, f.workload, f.scope}).second) << "duplicate " << name;
    EXPECT_TRUE(f.value || !f.text.empty()) << name << " has neither value nor text";
    EXPECT_TRUE(!f.value || !f.unit.empty()) << name << " has a value without a unit";
    EXPECT_TRUE(sources.count(f.source)) << name << " cites unknown source " << f.source;
    EXPECT_FALSE(f.where.empty()) << name;
    EXPECT_FALSE(f.measured.empty()) << name;
  }
  EXPECT_EQ(reports::paperValue("dynamic_gain", "lm", "forward"), 6.21);
  EXPECT_EQ(reports::paperText("no_such_finding", "lm", ""), "-");
}

// A printed paper cell ("6.21x", "-79.6%", "12.80x") as the number it shows.
double shownValue(const std::string& cell) {
  double number = std::stod(cell.substr(cell[0] == '+' ? 1 : 0));
  return cell.back() == '%' ? number / 100.0 : number;
}

// Whether some figure of the file has this value to the precision the cell shows.
bool isPaperFigure(const std::string& cell) {
  const double shown = shownValue(cell);
  for (const auto& f : reports::paperFigures()) {
    if (f.value && std::abs(*f.value - shown) <= 0.005 * std::abs(*f.value) + 1e-9) return true;
  }
  return false;
}

class ReproducePaperFigures : public testing::TempDirTest {};

TEST_F(ReproducePaperFigures, EveryPrintedPaperValueIsInTheFile) {
  auto result = testing::runMoeprof("reproduce --scale tiny --repeats 1 --out " + path("r"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  std::ifstream in(fs::path(path("r")) / "summary.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string summary = text.str();
  EXPECT_EQ(summary.find("PAPER.md"), std::string::npos);
  EXPECT_NE(summary.find(reports::kPaperFiguresFile), std::string::npos) << "cites the file";
  // The "paper" column of "Measured beside the paper": the third cell of each row.
  const auto section = summary.substr(summary.find("## Measured beside the paper"));
  std::istringstream table(section.substr(0, section.find("\n\n", 30)));
  int checked = 0;
  for (std::string line; std::getline(table, line);) {
    std::vector<std::string> cells;
    std::istringstream row(line);
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(cell);
    if (cells.size() < 4) continue;
    const std::string cell = cells[3].substr(1, cells[3].size() - 2);  // "| x |" -> "x"
    if (cell == "-" || cell == "paper" || cell.find("---") != std::string::npos) continue;
    EXPECT_TRUE(isPaperFigure(cell))
        << cell << " is not a figure of " << reports::kPaperFiguresFile;
    ++checked;
  }
  EXPECT_GE(checked, 5) << section;
}

}  // namespace
}  // namespace moeprof
