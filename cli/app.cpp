#include "cli/app.h"

#include <iostream>
#include <vector>

#include "collector/build_info.h"
#include "collector/errors.h"
#include "collector/interruption.h"

namespace moeprof::cli {

int runMain(int argc, char** argv) {
  CLI::App app{
      "moeprof: characterize Mixture-of-Experts inference (static vs dynamic gating, "
      "Expert Buffering, load balancing) on LM and MT workloads"};
  app.require_subcommand(1);
  app.set_version_flag("--version", collector::toolVersion());
  std::vector<std::pair<CLI::App*, Action>> commands;
  auto add = [&](const char* name, const char* description, Action (*adder)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, description);
    commands.emplace_back(sub, adder(*sub));
  };
  add("run", "Run one workload configuration and write a run directory", addRunCommand);
  add("sweep", "Run static and dynamic gating over batch sizes, one run directory each",
      addSweepCommand);
  add("reproduce", "Reproduce the paper's gating characterization on the embedded presets",
      addReproduceCommand);
  add("compare",
      "Compare two runs or sets of runs, or runs with a baseline: a verdict per metric "
      "(exit 3 on a regression)",
      addCompareCommand);
  add("baseline", "Write what of a set of runs survives a change of machine as a baseline file",
      addBaselineCommand);
  add("report",
      "Write report.html (self-contained, with charts), report.md and report.json of runs, "
      "sweeps, reproduce directories or traces",
      addReportCommand);
  add("export", "Export a run's trace: --perfetto for ui.perfetto.dev and chrome://tracing",
      addExportCommand);
  add("presets", "List the model presets with parameter counts and memory", addPresetsCommand);
  add("summary", "Summarize a trace: a run's, or an Nsight Systems SQLite export",
      addSummaryCommand);
  add("simulate", "Replay a run's routing through expert caches: miss rate per policy and slots",
      addSimulateCommand);
  add("corpus", "Build the real-text LM and MT corpora and their tokenizers (cached)",
      addCorpusCommand);
  add("tokenizer", "Train a SentencePiece tokenizer, or encode/decode with any SentencePiece model",
      addTokenizerCommand);
  add("characterize",
      "Routing statistics of runs (skew, idle experts, locality, similarity, cache and "
      "placement replay) beside the paper's, with synthetic Zipf routing for comparison",
      addCharacterizeCommand);
  add("train", "Train a small MoE LM or MT model on the corpus into a checkpoint (cached)",
      addTrainCommand);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitBadInput;
  }
  try {
    for (auto& [sub, action] : commands) {
      if (sub->parsed()) return action();
    }
  } catch (const InputError& e) {
    std::cerr << "moeprof: error: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const collector::Interrupted& e) {
    std::cerr << "moeprof: interrupted: " << e.what() << " (run.json says \"interrupted\")\n";
    return e.exitCode();
  } catch (const std::exception& e) {
    std::cerr << "moeprof: failed: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitFailure;
}

}  // namespace moeprof::cli
