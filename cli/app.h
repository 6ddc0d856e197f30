#pragma once
// The moeprof command line: subcommands, option parsing and the exit-code contract
// (0 success, 1 runtime failure, 2 bad usage or bad input, 3 regression against a baseline;
// a run stopped by a signal exits 128 + the signal, 130 for SIGINT and 143 for SIGTERM).
#include <CLI/CLI.hpp>

namespace moeprof::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitRegression = 3;

int runMain(int argc, char** argv);

// Each subcommand registers its options and the action to run when it is chosen; the action
// returns the exit code.
using Action = std::function<int()>;
Action addRunCommand(CLI::App& app);
Action addSweepCommand(CLI::App& app);
Action addReproduceCommand(CLI::App& app);
Action addCompareCommand(CLI::App& app);
Action addBaselineCommand(CLI::App& app);
Action addPresetsCommand(CLI::App& app);
Action addSummaryCommand(CLI::App& app);
Action addExportCommand(CLI::App& app);
Action addSimulateCommand(CLI::App& app);
Action addCorpusCommand(CLI::App& app);
Action addTokenizerCommand(CLI::App& app);
Action addCharacterizeCommand(CLI::App& app);
Action addTrainCommand(CLI::App& app);
Action addReportCommand(CLI::App& app);

}  // namespace moeprof::cli
