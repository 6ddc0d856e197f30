// `moeprof corpus`: builds (or reuses) the real-text corpora and tokenizers and prints sizes.
#include <iostream>
#include <memory>

#include "cli/app.h"
#include "cli/progress.h"
#include "collector/errors.h"
#include "reports/table.h"
#include "workloads/text/corpus.h"

namespace moeprof::cli {

namespace {

struct CorpusCommand {
  text::CorpusBuildOptions options;
  std::string out;
  double maxDomainMib = 32;
  bool noTokenizers = false;

  int execute() {
    options.out = out.empty() ? text::defaultCorpusDirectory() : std::filesystem::path(out);
    if (!(maxDomainMib > 0) || maxDomainMib > 65536) {
      throw InputError("--max-domain-mib " + std::to_string(maxDomainMib) +
                       " is out of range: allowed (0, 65536]");
    }
    options.maxDomainBytes = static_cast<int64_t>(maxDomainMib * (1 << 20));
    options.trainTokenizers = !noTokenizers;
    TerminalProgress progress;
    auto result = text::buildCorpus(options, [&](const std::string& s) { progress.update(s); });
    progress.finish();
    for (const auto& w : result.warnings) std::cerr << "moeprof: warning: skipped " << w << "\n";
    std::cout << sizeTable(result.manifest).toText() << "\n";
    if (result.reused) {
      std::cout << "up to date: " << result.reason << "\n";
    } else {
      std::cout << "built (" << result.reason << "): text "
                << reports::formatNumber(result.textSeconds, 3) << " s, tokenizers "
                << reports::formatNumber(result.tokenizerSeconds, 3) << " s\n";
    }
    std::cout << "corpus: " << options.out.string() << "\n";
    return kExitOk;
  }

  static reports::Table sizeTable(const text::CorpusManifest& m) {
    using reports::Align;
    reports::Table table({"corpus", "part", "sources", "train items", "valid items", "train bytes",
                          "valid bytes", "train tokens", "valid tokens"},
                         {Align::Left, Align::Left, Align::Right, Align::Right, Align::Right,
                          Align::Right, Align::Right, Align::Right, Align::Right});
    auto add = [&](const char* corpus, const std::map<std::string, text::CorpusPart>& parts) {
      for (const auto& [name, p] : parts) {
        table.addRow({corpus, name, std::to_string(p.sources), std::to_string(p.train.items),
                      std::to_string(p.valid.items),
                      reports::formatBytes(static_cast<double>(p.train.bytes)),
                      reports::formatBytes(static_cast<double>(p.valid.bytes)),
                      std::to_string(p.train.tokens), std::to_string(p.valid.tokens)});
      }
    };
    add("lm", m.lm);
    add("mt en->", m.mt);
    for (const auto& [name, t] : m.tokenizers) {
      table.addRow({"tokenizer", name, "-", "vocab " + std::to_string(t.vocab), "-",
                    reports::formatBytes(static_cast<double>(t.model.bytes)), "-", "-", "-"});
    }
    return table;
  }
};

}  // namespace

Action addCorpusCommand(CLI::App& app) {
  auto command = std::make_shared<CorpusCommand>();
  auto& o = command->options;
  app.add_option("--out", command->out,
                 "corpus directory; default $MOEPROF_CACHE_DIR/corpus, else "
                 "${XDG_CACHE_HOME:-~/.cache}/moeprof/corpus");
  app.add_flag("--force", o.force, "rebuild even when the corpus is up to date");
  app.add_option("--root", o.root,
                 "where usr/share/man, usr/include, usr/share/common-licenses, usr/share/doc and "
                 "usr/share/locale are read: / or a tree of Debian packages made by "
                 "scripts/corpus_sources.sh")
      ->capture_default_str();
  app.add_option("--max-domain-mib", command->maxDomainMib,
                 "LM text kept per domain, MiB (documents sampled by a hash of their path)")
      ->capture_default_str();
  app.add_option("--lm-vocab", o.lmVocab, "LM tokenizer vocabulary")->capture_default_str();
  app.add_option("--mt-vocab", o.mtVocab, "MT tokenizer vocabulary (shared, with __fr__ ...)")
      ->capture_default_str();
  app.add_flag("--no-tokenizers", command->noTokenizers, "build the text only");
  app.add_option("--threads", o.threads, "tokenizer training threads")->capture_default_str();
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
