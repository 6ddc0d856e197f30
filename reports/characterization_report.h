#pragma once
// Tables of a routing characterization (analysis::Characterization), each with the paper's
// figure beside ours where reports/paper_figures.json has one. `moeprof characterize` prints them.
// Runs are numbered #1, #2, ... in the order of Characterization::runs; routingTable names them.
#include <string>

#include "analysis/characterization.h"
#include "reports/table.h"

namespace moeprof::reports {

// # | run | stack | layers | passes | gini | top-10% | hottest/uniform | idle/pass | idle/batch |
// never used | hottest of pass | reuse t+1 | reuse p50/p90 | paper
Table routingTable(const analysis::Characterization& characterization);

// # | stack | policy | one column per slot count (miss rate; "-" where the stack cannot hold
// that count) | paper
Table missRateTable(const analysis::Characterization& characterization);

// # | stack | devices | "max / avg max" per pass (the paper's readings) per placement | perfect |
// paper
Table placementTable(const analysis::Characterization& characterization);

// Expert Buffering per GPU under each placement: # | stack | devices | slots | per placement
// "miss rate (lowest-highest GPU)" | 1 GPU | paper (balancing also lowers miss rates).
Table deviceMissRateTable(const analysis::Characterization& characterization);

// One matrix of a stack: # | #1 | #2 ... with "cosine / JS divergence" in each cell.
Table similarityTable(const analysis::Characterization& characterization,
                      const analysis::SimilarityMatrix& matrix);

// # | zipf | stack | gini real | gini zipf | zipf/real | paper: for each real run and each
// synthetic run of the same model (mock routing misstates skew by up to 2.35x).
Table syntheticSkewTable(const analysis::Characterization& characterization);

// Every table under a title, and a note for the ones without rows.
std::string characterizationText(const analysis::Characterization& characterization);

}  // namespace moeprof::reports
