#pragma once
// The papers' figures that reports print beside measurements, read from
// reports/paper_figures.json (compiled into moeprof): each with its unit, what was measured,
// its source's citation and where in the paper it is stated. No report writes a paper figure
// of its own.
#include <optional>
#include <string>
#include <vector>

namespace moeprof::reports {

// One figure: a number in `unit`, or a qualitative finding (`text`), or both.
struct PaperFigure {
  std::string finding;   // e.g. "dynamic_gain", "waste_factor", "routing"
  std::string workload;  // "lm", "mt", or empty when the figure is not about one workload
  std::string scope;     // phase or stack ("forward", "encoder", "decoder", "lm"), or empty
  std::optional<double> value;
  std::string unit;
  std::string text;
  std::string measured;  // what the paper measured
  std::string source;    // key into paperSources()
  std::string where;     // section of the paper
};

// A paper the figures come from.
struct PaperSource {
  std::string key;
  std::string citation;  // full
  std::string shortName;
  std::string setting;  // hardware and models the paper measured on
};

const std::vector<PaperFigure>& paperFigures();
const std::vector<PaperSource>& paperSources();

// The figure for (finding, workload, scope), or null.
const PaperFigure* findPaperFigure(const std::string& finding, const std::string& workload,
                                   const std::string& scope);
// Its value, when the figure exists and has one.
std::optional<double> paperValue(const std::string& finding, const std::string& workload,
                                 const std::string& scope);
// Its text, or "-" when there is none.
std::string paperText(const std::string& finding, const std::string& workload,
                      const std::string& scope);
// The short name of a source ("Huang et al., ..."); std::out_of_range for an unknown key.
const std::string& paperShortName(const std::string& sourceKey);

// Where the figures come from in the repository, for reports to cite.
inline constexpr const char* kPaperFiguresFile = "reports/paper_figures.json";

}  // namespace moeprof::reports
