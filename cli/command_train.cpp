// `moeprof train`: trains a small MoE LM or MT model on the real-text corpus into a checkpoint
// (workloads/training/trainer.h) and prints what it reached against the unigram baseline.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/app.h"
#include "cli/progress.h"
#include "cli/run_flags.h"
#include "workloads/training/trainer.h"

namespace moeprof::cli {

namespace {

struct TrainCommand {
  std::string workload = "lm";
  workloads::training::TrainOptions options;
  int64_t steps = 0, batch = 0, stopAfter = 0;
  double lr = 0, balanceWeight = 0;
  CLI::Option *stepsOption = nullptr, *batchOption = nullptr, *lrOption = nullptr,
              *balanceOption = nullptr, *stopOption = nullptr;

  workloads::training::TrainOptions resolved() const {
    auto o = options;
    o.workload = parseWorkload(workload);
    if (stepsOption->count() > 0) o.steps = steps;
    if (batchOption->count() > 0) o.batch = batch;
    if (lrOption->count() > 0) o.lr = lr;
    if (balanceOption->count() > 0) o.balanceWeight = balanceWeight;
    if (stopOption->count() > 0) o.stopAfter = stopAfter;
    return o;
  }

  int execute() const {
    auto o = resolved();
    workloads::training::checkTrainOptions(o);  // before anything is built or written
    if (auto warning = workloads::training::spinningThreadsWarning(o.threads); !warning.empty()) {
      std::cerr << warning << "\n";
    }
    TerminalProgress terminal;
    const bool quietTerminal = !isatty(fileno(stderr));
    int64_t lines = 0;
    auto outcome = workloads::training::trainModel(o, [&](const std::string& status) {
      terminal.update(status);
      // Off a terminal: every 25th status as a line, so logs show that training moves.
      if (quietTerminal && lines++ % 25 == 0) std::cerr << status << "\n";
    });
    terminal.finish();
    const auto& r = outcome.report;
    if (outcome.stopped) {
      std::cout << "stopped after step " << *o.stopAfter << "; continue with --resume\n"
                << "checkpoint: " << outcome.dir.string() << "\n";
      return kExitOk;
    }
    char line[256];
    std::snprintf(line, sizeof line,
                  "%s %s: %lld steps in %.1f s (%.0f tokens/s), val loss %.3f, perplexity %.1f "
                  "(unigram %.1f)\n",
                  outcome.reused ? "reused" : "trained", r.at("model").get<std::string>().c_str(),
                  static_cast<long long>(r.at("steps").get<int64_t>()),
                  r.at("time_s").get<double>(), r.at("tokens_per_s").get<double>(),
                  r.at("val_loss").get<double>(), r.at("val_perplexity").get<double>(),
                  r.at("unigram_perplexity").get<double>());
    std::cout << line;
    std::cout << "validation routing: "
              << r.at("val_routing").at("mean_experts_used").get<double>() * 100
              << "% of experts used per MoE layer\n";
    const auto& accuracy = r.at("pregates").at("accuracy");
    std::cout << "next-layer expert recall: router " << accuracy.at("router_recall").dump();
    if (!accuracy.at("trained_recall").is_null()) {
      std::cout << ", trained pre-gate " << accuracy.at("trained_recall").dump();
    }
    std::cout << "\ncheckpoint: " << outcome.dir.string() << " (train.json beside it)\n";
    return kExitOk;
  }
};

}  // namespace

Action addTrainCommand(CLI::App& app) {
  auto c = std::make_shared<TrainCommand>();
  auto& o = c->options;
  app.add_option("--workload", c->workload, "lm or mt")->capture_default_str();
  app.add_option("--size", o.size,
                 "default (lm-cpu / mt-cpu: their E, k, layers and d_model; the corpus "
                 "tokenizer's vocabulary) or micro (tiny, for tests)")
      ->capture_default_str();
  c->stepsOption = app.add_option("--steps", c->steps, "optimizer steps; default: the size's");
  c->batchOption =
      app.add_option("--batch", c->batch, "sequences (lm) or sentence pairs (mt) per step");
  c->lrOption = app.add_option("--lr", c->lr, "peak AdamW learning rate; default: the size's");
  c->balanceOption = app.add_option(
      "--balance-weight", c->balanceWeight,
      "weight of the load-balancing loss (GShard/fairseq); default: the size's (" +
          std::to_string(workloads::training::kDefaultBalanceWeight).substr(0, 4) + ")");
  app.add_option("--seed", o.seed, "seed of the weights and the batches")
      ->check(seedValidator())
      ->capture_default_str();
  app.add_option("--out", o.out,
                 "checkpoint directory; default $MOEPROF_CACHE_DIR/models/<lm|mt>-<size> (else "
                 "~/.cache/moeprof/models/...), reused when it holds this training finished");
  app.add_option("--corpus", o.corpus,
                 "corpus directory of `moeprof corpus`; default its cache (built when missing)");
  app.add_flag("--resume", o.resume, "continue the checkpoint in --out where it stopped");
  c->stopOption = app.add_option("--stop-after", c->stopAfter,
                                 "save and stop after this step (continue with --resume)");
  app.add_flag("--pregates", o.pregates,
               "also train Pre-gated MoE gates (layer N's input -> layer N+1's experts) with the "
               "model frozen, and store them in the checkpoint");
  app.add_option("--threads", o.threads, "LibTorch threads, 1..4096; default: one per core")
      ->check(threadCountValidator());
  return [c] { return c->execute(); };
}

}  // namespace moeprof::cli
