#pragma once
// How `moeprof reproduce` judges a measured finding against the paper's figure. Every rule is
// here, one per finding of reports/paper_figures.json, so that the summary, its JSON and the HTML
// report say the same thing (docs/reports.md lists the rules).
//
// A finding claims that a value lies on one side of a neutral value (1 for "A / B" ratios, 0 for
// changes, 0.5 for "most experts" shares). The verdict:
//   reproduced            the measured value is within the rule's tolerance of the paper's
//                         (measured / paper in [1 / (1 + t), 1 + t]);
//   direction reproduced  on the paper's side of neutral, but outside the tolerance;
//   not reproduced        at or beyond neutral, against the paper;
//   not comparable        nothing to compare: no paper figure for this scope, no measurement, or
//                         a setting that decides the value differs from the paper's (the caller
//                         says which, see notComparable).
// A qualitative finding (the paper states a direction, no number) is reproduced when the
// measurement lies on the claimed side.
#include <optional>
#include <string>

namespace moeprof::analysis {

enum class ReproductionVerdict { Reproduced, DirectionReproduced, NotReproduced, NotComparable };
// "reproduced", "direction reproduced", "not reproduced", "not comparable"
const char* reproductionVerdictName(ReproductionVerdict verdict);

// Which side of neutral a qualitative finding claims (numeric findings take it from the value).
enum class Side { Above, Below };

struct FindingRule {
  double neutral = 1;              // no effect: a ratio of 1, a change of 0
  double tolerance = 0.25;         // relative, see above
  Side claimedSide = Side::Above;  // used only when the paper gives no number
};

// The rule of a finding key ("dynamic_gain", "waste_factor", ...); unknown keys get the default
// (a ratio, neutral 1, 25%).
FindingRule findingRule(const std::string& finding);

struct Judgement {
  ReproductionVerdict verdict = ReproductionVerdict::NotComparable;
  std::optional<double> ratio;  // measured / paper, when both exist and the paper's is not 0
  std::string reason;           // one line
};

Judgement judgeFinding(std::optional<double> paper, std::optional<double> measured,
                       const FindingRule& rule);
// A finding whose measurement is not comparable with the paper's for `reason`; keeps the ratio.
Judgement notComparable(std::optional<double> paper, std::optional<double> measured,
                        std::string reason);

}  // namespace moeprof::analysis
