#include "reports/characterization_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "reports/paper_figures.h"

namespace moeprof::reports {
namespace {

using analysis::Characterization;
using analysis::RunCharacterization;
using collector::LayerStack;

// The paper's finding for a stack (reports/paper_figures.json): routing, miss rate, placement.
std::string paperFinding(const std::string& finding, LayerStack stack) {
  const std::string name = collector::layerStackName(stack);
  return paperText(finding, stack == LayerStack::Lm ? "lm" : "mt", name);
}

std::string number(double value, int digits = 3) {
  return std::isfinite(value) ? formatNumber(value, digits) : "-";
}

std::string runNumber(size_t index) {
  return "#" + std::to_string(index + 1);
}

std::string reuseQuantiles(const analysis::ReuseSummary& reuse) {
  if (reuse.reuses() == 0) return "-";
  return number(reuse.quantileDistance(0.5)) + " / " + number(reuse.quantileDistance(0.9));
}

std::vector<Align> rightAligned(size_t columns, std::initializer_list<size_t> left) {
  std::vector<Align> alignments(columns, Align::Right);
  for (size_t column : left) alignments[column] = Align::Left;
  return alignments;
}

}  // namespace

Table routingTable(const Characterization& characterization) {
  std::vector<std::string> headers = {"#",         "run",           "stack",      "layers",
                                      "passes",    "gini",          "top-10%",    "hottest/uniform",
                                      "idle/pass", "idle/batch",    "never used", "hottest of pass",
                                      "reuse t+1", "reuse p50/p90", "paper"};
  Table table(headers, rightAligned(headers.size(), {1, 2, 14}));
  for (size_t r = 0; r < characterization.runs.size(); ++r) {
    const RunCharacterization& run = characterization.runs[r];
    for (const analysis::StackStatistics& s : run.statistics.stacks) {
      table.addRow({runNumber(r), run.label.text(), collector::layerStackName(s.stack),
                    std::to_string(s.layers), std::to_string(s.passesPerLayer), number(s.gini),
                    number(s.top10Share), number(s.hottestToUniform), number(s.inactivePerPass),
                    number(s.inactivePerBatch), number(s.neverActive),
                    number(s.maxHottestPassShare), number(s.reuseNextPass), reuseQuantiles(s.reuse),
                    paperFinding("routing", s.stack)});
    }
  }
  return table;
}

Table missRateTable(const Characterization& characterization) {
  std::set<uint32_t> slotCounts;
  for (const RunCharacterization& run : characterization.runs) {
    for (const analysis::StackReplay& replay : run.replays) {
      if (!replay.caches) continue;
      for (const auto& point : replay.caches->curves.front().points) slotCounts.insert(point.slots);
    }
  }
  std::vector<std::string> headers = {"#", "stack", "policy"};
  for (uint32_t slots : slotCounts) headers.push_back(std::to_string(slots));
  headers.push_back("paper");
  Table table(headers, rightAligned(headers.size(), {1, 2, headers.size() - 1}));
  for (size_t r = 0; r < characterization.runs.size(); ++r) {
    for (const analysis::StackReplay& replay : characterization.runs[r].replays) {
      if (!replay.caches) continue;
      for (const analysis::PolicyCurve& curve : replay.caches->curves) {
        std::map<uint32_t, double> rates;
        for (const auto& point : curve.points) rates[point.slots] = point.counts.missRate();
        std::vector<std::string> row = {runNumber(r), collector::layerStackName(replay.stack),
                                        curve.policy};
        for (uint32_t slots : slotCounts) {
          row.push_back(rates.count(slots) ? number(rates[slots]) : "-");
        }
        row.push_back(paperFinding("miss_rate", replay.stack));
        table.addRow(std::move(row));
      }
    }
  }
  return table;
}

Table placementTable(const Characterization& characterization) {
  std::vector<std::string> placements;
  for (const RunCharacterization& run : characterization.runs) {
    for (const analysis::StackReplay& replay : run.replays) {
      if (!replay.placement) continue;
      for (const auto& outcome : replay.placement->outcomes) {
        if (std::find(placements.begin(), placements.end(), outcome.placement) ==
            placements.end()) {
          placements.push_back(outcome.placement);
        }
      }
    }
  }
  std::vector<std::string> headers = {"#", "stack", "devices"};
  for (const std::string& name : placements) headers.push_back(name + " max / avg max");
  headers.push_back("perfect");
  headers.push_back("paper");
  Table table(headers, rightAligned(headers.size(), {1, headers.size() - 1}));
  for (size_t r = 0; r < characterization.runs.size(); ++r) {
    for (const analysis::StackReplay& replay : characterization.runs[r].replays) {
      if (!replay.placement) continue;
      std::map<int, std::map<std::string, const analysis::PlacementOutcome*>> byDevices;
      for (const auto& outcome : replay.placement->outcomes) {
        byDevices[outcome.devices][outcome.placement] = &outcome;
      }
      for (const auto& [devices, outcomes] : byDevices) {
        std::vector<std::string> row = {runNumber(r), collector::layerStackName(replay.stack),
                                        std::to_string(devices)};
        for (const std::string& name : placements) {
          auto it = outcomes.find(name);
          row.push_back(it == outcomes.end() ? "-"
                                             : number(it->second->meanMaxLoad) + " / " +
                                                   number(it->second->meanAvgMaxLoad));
        }
        row.push_back(number(1.0 / devices));
        row.push_back(paperFinding("placement", replay.stack));
        table.addRow(std::move(row));
      }
    }
  }
  return table;
}

Table similarityTable(const Characterization& characterization,
                      const analysis::SimilarityMatrix& matrix) {
  std::vector<std::string> headers = {"#"};
  for (size_t r = 0; r < matrix.pairs.size(); ++r) headers.push_back(runNumber(r));
  Table table(headers, rightAligned(headers.size(), {}));
  for (size_t i = 0; i < matrix.pairs.size(); ++i) {
    std::vector<std::string> row = {runNumber(i)};
    for (const analysis::LoadSimilarity& pair : matrix.pairs[i]) {
      row.push_back(number(pair.cosine) + " / " + number(pair.jensenShannon));
    }
    table.addRow(std::move(row));
  }
  return table;
}

Table syntheticSkewTable(const Characterization& characterization) {
  Table table({"#", "zipf", "stack", "gini real", "gini zipf", "zipf/real", "paper"},
              rightAligned(7, {2, 6}));
  const auto& runs = characterization.runs;
  for (size_t r = 0; r < runs.size(); ++r) {
    if (runs[r].label.zipfExponent) continue;
    for (size_t z = 0; z < runs.size(); ++z) {
      if (!runs[z].label.zipfExponent ||
          runs[z].statistics.header.model != runs[r].statistics.header.model) {
        continue;
      }
      for (const analysis::StackStatistics& real : runs[r].statistics.stacks) {
        const analysis::StackStatistics* synthetic = runs[z].statistics.stack(real.stack);
        if (synthetic == nullptr) continue;
        table.addRow({runNumber(r), runNumber(z), collector::layerStackName(real.stack),
                      number(real.gini), number(synthetic->gini),
                      real.gini > 0 ? formatRatio(synthetic->gini / real.gini) : "-",
                      paperText("mock_routing_gini", "", "")});
      }
    }
  }
  return table;
}

std::string characterizationText(const Characterization& characterization) {
  std::ostringstream out;
  out << "Routing per run and stack (mean over the stack's MoE layers; a pass is one batch, or "
         "one decoding step in the decoder; gini and top-10% of the whole log's expert loads, "
         "idle = experts without a token, reuse t+1 = experts active in a pass that are active "
         "in the next, reuse p50/p90 = passes until an expert is needed again)\n\n"
      << routingTable(characterization).toText();
  Table misses = missRateTable(characterization);
  out << "\nExpert Buffering miss rate (misses / accesses) per slot count per MoE layer\n\n"
      << (misses.numRows() ? misses.toText() : "(no slot count fits these models)\n");
  Table placement = placementTable(characterization);
  out << "\nExpert placement: Max Load / Avg Max Load, mean over layers, chosen on the first half "
         "of each layer's passes and judged on the second\n\n"
      << (placement.numRows() ? placement.toText()
                              : "(no device count divides the experts, or fewer than 2 passes)\n");
  for (const analysis::SimilarityMatrix& matrix : characterization.similarity) {
    out << "\nExpert load similarity, " << collector::layerStackName(matrix.stack)
        << " (cosine / Jensen-Shannon divergence, base 2; mean over layers; paper: "
        << paperText("similarity", "lm", "lm") << ", " << paperText("similarity", "mt", "")
        << ")\n\n"
        << similarityTable(characterization, matrix).toText();
  }
  Table synthetic = syntheticSkewTable(characterization);
  if (synthetic.numRows()) {
    out << "\nSynthetic Zipf routing against real routing\n\n" << synthetic.toText();
  }
  return out.str();
}

}  // namespace moeprof::reports
