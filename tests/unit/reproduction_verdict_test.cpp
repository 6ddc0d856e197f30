// The verdict rules of "Measured beside the paper" (analysis/reproduction_verdict.h) on
// hand-made values: within the tolerance, on the paper's side only, against it, nothing to
// compare, and a qualitative finding.
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/reproduction_verdict.h"

namespace moeprof::analysis {
namespace {

TEST(ReproductionVerdict, RatioWithinToleranceIsReproduced) {
  auto j = judgeFinding(6.21, 5.5, findingRule("dynamic_gain"));  // 0.886, inside 1/1.25
  EXPECT_EQ(j.verdict, ReproductionVerdict::Reproduced) << j.reason;
  ASSERT_TRUE(j.ratio);
  EXPECT_NEAR(*j.ratio, 5.5 / 6.21, 1e-12);
  EXPECT_EQ(judgeFinding(6.21, 7.76, findingRule("dynamic_gain")).verdict,
            ReproductionVerdict::Reproduced);
}

TEST(ReproductionVerdict, SameSideOutsideToleranceIsTheDirectionOnly) {
  auto weaker = judgeFinding(6.21, 1.5, findingRule("dynamic_gain"));
  EXPECT_EQ(weaker.verdict, ReproductionVerdict::DirectionReproduced);
  EXPECT_NE(weaker.reason.find("weaker"), std::string::npos) << weaker.reason;
  auto stronger = judgeFinding(6.21, 400, findingRule("dynamic_gain"));
  EXPECT_EQ(stronger.verdict, ReproductionVerdict::DirectionReproduced);
  EXPECT_NE(stronger.reason.find("stronger"), std::string::npos) << stronger.reason;
}

TEST(ReproductionVerdict, OtherSideOfNeutralIsNotReproduced) {
  EXPECT_EQ(judgeFinding(2.58, 0.88, findingRule("dynamic_gain")).verdict,
            ReproductionVerdict::NotReproduced);
  EXPECT_EQ(judgeFinding(2.58, 1.0, findingRule("dynamic_gain")).verdict,
            ReproductionVerdict::NotReproduced)
      << "no effect is not the paper's effect";
  // A change: the paper's activation memory falls (-79.6%); a rise is against it.
  EXPECT_EQ(judgeFinding(-0.796, 0.05, findingRule("activation_change")).verdict,
            ReproductionVerdict::NotReproduced);
  EXPECT_EQ(judgeFinding(-0.796, -0.7, findingRule("activation_change")).verdict,
            ReproductionVerdict::Reproduced);
  EXPECT_EQ(judgeFinding(-0.796, -0.2, findingRule("activation_change")).verdict,
            ReproductionVerdict::DirectionReproduced);
}

TEST(ReproductionVerdict, WasteFactorMustMatchClosely) {
  EXPECT_EQ(judgeFinding(12.8, 12.8, findingRule("waste_factor")).verdict,
            ReproductionVerdict::Reproduced);
  EXPECT_EQ(judgeFinding(64, 64.5, findingRule("waste_factor")).verdict,
            ReproductionVerdict::Reproduced);
  EXPECT_EQ(judgeFinding(12.8, 13.0, findingRule("waste_factor")).verdict,
            ReproductionVerdict::Reproduced)
      << "512 x ceil(0.05 x 1024) / (2 x 1024): the capacity rounds up";
  EXPECT_EQ(judgeFinding(12.8, 13.2, findingRule("waste_factor")).verdict,
            ReproductionVerdict::DirectionReproduced)
      << "3% off a figure that follows from E, CF and k is a different setting";
}

TEST(ReproductionVerdict, ShareJudgedAgainstHalf) {
  EXPECT_EQ(judgeFinding(0.75, 0.7, findingRule("idle_share")).verdict,
            ReproductionVerdict::Reproduced);
  EXPECT_EQ(judgeFinding(0.75, 0.55, findingRule("idle_share")).verdict,
            ReproductionVerdict::DirectionReproduced);
  EXPECT_EQ(judgeFinding(0.75, 0.3, findingRule("idle_share")).verdict,
            ReproductionVerdict::NotReproduced);
}

TEST(ReproductionVerdict, NothingToCompareIsNotComparable) {
  auto none = judgeFinding(6.21, std::nullopt, findingRule("dynamic_gain"));
  EXPECT_EQ(none.verdict, ReproductionVerdict::NotComparable);
  EXPECT_FALSE(none.ratio);
  EXPECT_EQ(judgeFinding(6.21, std::nan(""), findingRule("dynamic_gain")).verdict,
            ReproductionVerdict::NotComparable);
  auto setting = notComparable(12.8, 0.25, "E = 8 here, 512 in the paper");
  EXPECT_EQ(setting.verdict, ReproductionVerdict::NotComparable);
  ASSERT_TRUE(setting.ratio) << "the ratio is still shown";
  EXPECT_NEAR(*setting.ratio, 0.25 / 12.8, 1e-12);
}

TEST(ReproductionVerdict, QualitativeFindingOnItsClaimedSide) {
  auto alike = judgeFinding(std::nullopt, 1.3, findingRule("similarity"));
  EXPECT_EQ(alike.verdict, ReproductionVerdict::Reproduced) << alike.reason;
  EXPECT_FALSE(alike.ratio);
  EXPECT_EQ(judgeFinding(std::nullopt, 0.9, findingRule("similarity")).verdict,
            ReproductionVerdict::NotReproduced);
}

TEST(ReproductionVerdict, NamesAndDefaultRule) {
  EXPECT_STREQ(reproductionVerdictName(ReproductionVerdict::Reproduced), "reproduced");
  EXPECT_STREQ(reproductionVerdictName(ReproductionVerdict::DirectionReproduced),
               "direction reproduced");
  EXPECT_STREQ(reproductionVerdictName(ReproductionVerdict::NotReproduced), "not reproduced");
  EXPECT_STREQ(reproductionVerdictName(ReproductionVerdict::NotComparable), "not comparable");
  EXPECT_EQ(findingRule("no_such_finding").neutral, 1.0);
  EXPECT_EQ(findingRule("activation_change").neutral, 0.0);
}

}  // namespace
}  // namespace moeprof::analysis
