#include "cli/text_flags.h"

namespace moeprof::cli {

void addTextFlagsTo(CLI::App& app, text::TextInput& input) {
  app.add_option("--text", input.textFile,
                 "UTF-8 text as input instead of random tokens (LM: paragraphs as documents; "
                 "MT: a source sentence per line), tokenized with --tokenizer");
  app.add_option("--tokenizer", input.tokenizer,
                 "SentencePiece .model for --text/--domain/--lang; default: the corpus' trained "
                 "lm.model or mt.model (see `moeprof corpus`)");
  app.add_option("--domain", input.domain,
                 "LM: batches from the corpus' validation documents of prose, code or license");
  app.add_option("--lang", input.language,
                 "MT: batches from the corpus' validation sources of English -> fr, ja or ast, "
                 "each led by the language tag (with --text too)");
  app.add_option("--corpus", input.corpus,
                 "corpus directory for --domain/--lang and the default tokenizer; default: "
                 "$MOEPROF_CACHE_DIR/corpus or ~/.cache/moeprof/corpus");
}

}  // namespace moeprof::cli
