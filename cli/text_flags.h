#pragma once
// The real-text input options of `run` (and of sweep and reproduce, which share RunFlags).
#include <CLI/CLI.hpp>

#include "workloads/text/text_input.h"

namespace moeprof::cli {

// Registers --text, --tokenizer, --domain, --lang and --corpus, stored into `input`.
void addTextFlagsTo(CLI::App& app, text::TextInput& input);

}  // namespace moeprof::cli
