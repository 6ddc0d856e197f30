#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include "analysis/characterization.h"

#include "cli/app.h"
#include "cli/deployment_runs.h"
#include "cli/progress.h"
#include "cli/run_flags.h"
#include "cli/sweep.h"
#include "collector/atomic_file.h"
#include "collector/errors.h"
#include "collector/interruption.h"
#include "reports/characterization_report.h"
#include "reports/gating_report.h"
#include "reports/report_builder.h"
#include "reports/report_writers.h"
#include "workloads/text/corpus.h"
#include "workloads/training/trainer.h"

namespace moeprof::cli {

namespace {

// The paper's gating characterization: static vs dynamic gating on both workloads at the
// paper's batch sizes (LM 8; MT 48, plus 8 where the paper gives activation memory), and the
// static MoE models against their dense counterparts.
// The synthetic routing that the real routing is compared with: Zipf(1.2) expert popularity.
constexpr double kZipfExponent = 1.2;
// --quick: enough batches for the rank test (9 or more samples a side), and one thread on every
// machine so that the baseline's configuration matches anywhere. One thread, too, because the
// side-by-side ratios the gate judges then move by a few percent between runs on a busy
// machine; with 2 threads on 2 cores, neighbours' load moved them by 2x.
constexpr int64_t kQuickRepeats = 9;
constexpr int64_t kQuickThreads = 1;

struct ReproduceCommand {
  std::string scale = "cpu";
  int64_t repeats = 5;
  int64_t threads = 0;
  bool force = false;
  std::filesystem::path out = "runs/reproduce";
  bool randomOnly = false;
  std::filesystem::path corpus;
  // --scale cpu: the trained default models (lm, mt), their checkpoint directories.
  std::map<std::string, std::filesystem::path> checkpoints;
  bool quick = false;
  bool deployment = false;  // the deployment study: buffering, prefetching, placement
  CLI::Option* repeatsOption = nullptr;
  CLI::Option* threadsOption = nullptr;
  CLI::Option* outOption = nullptr;

  workloads::RunOptions point(const std::string& preset, int64_t batch,
                              workloads::GatingMode gating) const {
    workloads::RunOptions o;
    o.preset = preset;
    o.batch = batch;
    o.gating = gating;
    o.repeats = repeats;
    o.threads = threads;
    return o;
  }

  void checkScale() const {
    if (scale != "cpu" && scale != "tiny" && scale != "paper") {
      throw InputError("--scale '" + scale + "' is not one of: cpu, tiny, paper");
    }
  }

  // At --scale cpu the characterized models are trained on the corpus (once, then cached);
  // random weights stay as a labelled comparison.
  void trainMissingModels() {
    if (scale != "cpu" || randomOnly) return;
    if (auto warning = workloads::training::spinningThreadsWarning(threads); !warning.empty()) {
      std::cerr << warning << "\n";
    }
    for (auto kind : {workloads::WorkloadKind::Lm, workloads::WorkloadKind::Mt}) {
      workloads::training::TrainOptions o;
      o.workload = kind;
      o.threads = threads;
      o.corpus = corpus;
      o.resumeIfPossible = true;  // an interrupted reproduction continues its training
      o.pregates = true;          // pre-gated prefetching then uses trained gates
      TerminalProgress progress;
      const std::string name = workloads::workloadName(kind);
      auto outcome = workloads::training::trainModel(o, [&](const std::string& status) {
        progress.update("training " + name + ": " + status);
      });
      progress.finish();
      const auto& r = outcome.report;
      std::cerr << (outcome.reused ? "using trained " : "trained ") << name << " model "
                << outcome.dir.string() << ": val perplexity " << r.at("val_perplexity").dump()
                << " (unigram " << r.at("unigram_perplexity").dump() << ")\n";
      checkpoints[name] = outcome.dir;
    }
  }

  // --quick, the CI gate's run (docs/comparisons.md): random weights, the paper's E, k, CF and
  // depth at a short sequence, static and dynamic gating and the dense model side by side.
  // LM: 8 x 20 tokens make the static capacity exactly 0.05 x 160 = 8 (waste factor 12.8).
  std::vector<workloads::RunOptions> quickPlan() const {
    using workloads::GatingMode;
    std::vector<workloads::RunOptions> runs;
    for (const char* workload : {"lm", "mt"}) {
      for (const std::string& preset :
           {std::string(workload) + "-" + scale, std::string(workload) + "-dense-" + scale}) {
        for (auto gating : {GatingMode::Static, GatingMode::Dynamic}) {
          // A dense preset has no gating: one run.
          if (gating == GatingMode::Dynamic && preset.find("-dense-") != std::string::npos) break;
          auto o = point(preset, 8, gating);
          if (std::string(workload) == "lm") o.seqLen = 20;
          runs.push_back(o);
        }
      }
    }
    return runs;
  }

  void applyQuickDefaults() {
    if (!quick) return;
    if (deployment) throw InputError("--quick and --deployment do not go together");
    if (randomOnly || !corpus.empty()) {
      throw InputError("--quick runs random weights only; drop --random-weights-only/--corpus");
    }
    randomOnly = true;
    if (repeatsOption->count() == 0) repeats = kQuickRepeats;
    if (threadsOption->count() == 0) threads = kQuickThreads;
    if (outOption->count() == 0) out = "runs/quick";
  }

  std::vector<workloads::RunOptions> plan() const {
    checkScale();
    if (quick) return quickPlan();
    using workloads::GatingMode;
    std::vector<workloads::RunOptions> runs;
    const std::pair<const char*, std::vector<int64_t>> workloads[] = {{"lm", {8}}, {"mt", {8, 48}}};
    for (const auto& [workload, batches] : workloads) {
      std::string moe = std::string(workload) + "-" + scale;
      std::string dense = std::string(workload) + "-dense-" + scale;
      for (int64_t batch : batches) {
        if (auto it = checkpoints.find(workload); it != checkpoints.end()) {
          for (auto gating : {GatingMode::Static, GatingMode::Dynamic}) {
            auto o = point("", batch, gating);
            o.checkpoint = it->second;
            runs.push_back(o);
          }
        }
        runs.push_back(point(moe, batch, GatingMode::Static));
        runs.push_back(point(moe, batch, GatingMode::Dynamic));
      }
      runs.push_back(point(dense, batches.back(), GatingMode::Static));
    }
    return runs;
  }

  // Which rows are the trained models and which random weights, in every table.
  void labelWeights(std::vector<analysis::PhasePoint>& points) const {
    if (checkpoints.empty()) return;
    for (auto& p : points) {
      if (p.gating == "none") continue;
      bool trained = p.preset.find("-" + scale) == std::string::npos;
      p.preset += trained ? " (trained)" : " (random weights)";
    }
  }

  // The paper's placements (anti-correlation is its MT decoder variant), judged by per-pass Max
  // Load and by the miss rates of per-GPU caches under each.
  static analysis::CharacterizationOptions characterizationOptions() {
    analysis::CharacterizationOptions options;
    options.placements = {"roundrobin", "greedy", "anticorr"};
    return options;
  }

  // The LM domains and MT target languages routed through each model.
  static const std::vector<std::pair<std::string, std::vector<std::string>>>& routingTexts() {
    static const std::vector<std::pair<std::string, std::vector<std::string>>> texts = {
        {"lm", {"prose", "code", "license"}}, {"mt", {"fr", "ja", "ast"}}};
    return texts;
  }

  // Runs of the characterization of routing on real text: trained and random weights.
  size_t routingRunCount() const {
    if (checkpoints.empty()) return 0;
    size_t runs = 0;
    for (const auto& [workload, labels] : routingTexts()) runs += 2 * labels.size();
    return runs;
  }

  // Routing on real text, the comparison: every LM domain and MT target language
  // through the trained model and the random-weight preset, each model characterized with a
  // synthetic Zipf twin (one model per characterization, so the similarity matrices compare
  // domains and languages of one model). Returns each group's statistics, for the rows beside
  // the paper.
  std::vector<reports::RoutingGroupStatistics> characterizeRouting(StepClock& clock) const {
    std::vector<reports::RoutingGroupStatistics> groups;
    if (checkpoints.empty()) return groups;
    const std::filesystem::path dir = out / "routing";
    std::string report = "# Routing on real text: trained models, random weights, Zipf\n\n";
    for (const auto& [workload, labels] : routingTexts()) {
      for (bool trained : {true, false}) {
        std::vector<workloads::RunOptions> runs;
        for (const std::string& label : labels) {
          auto o = point(trained ? "" : workload + "-" + scale, workload == "lm" ? 8 : 48,
                         workloads::GatingMode::Dynamic);
          if (trained) o.checkpoint = checkpoints.at(workload);
          (workload == "lm" ? o.text.domain : o.text.language) = label;
          // A small model's greedy output repeats a token across the batch, which no real
          // translation does: the decoder is fed the references (teacher forcing).
          if (workload == "mt") o.decode = "reference";
          o.text.corpus = corpus;
          runs.push_back(o);
        }
        const auto groupDir = dir / (workload + (trained ? "-trained" : "-random"));
        // The runs just made, not whatever an earlier reproduction left in the directory.
        std::set<std::filesystem::path> runDirs;
        for (const auto& point : executeSweep(runs, groupDir, force, &clock)) {
          runDirs.insert(groupDir / point.runDir);
        }
        auto characterization = analysis::characterizeRuns(
            {runDirs.begin(), runDirs.end()}, {kZipfExponent}, 1, characterizationOptions());
        collector::writeFileAtomically(groupDir / "characterization.json",
                                       analysis::characterizationJson(characterization));
        report += "## " + workload + (trained ? ", trained" : ", random weights") + "\n\n```\n" +
                  reports::characterizationText(characterization) + "```\n\n";
        groups.push_back(groupStatistics(groupDir.filename().string(), characterization));
      }
    }
    collector::writeFileAtomically(out / "characterization.md", report);
    std::cout << report;
    return groups;
  }

  // The real-text runs of a characterization (its synthetic Zipf twins left out).
  static reports::RoutingGroupStatistics groupStatistics(
      const std::string& name, const analysis::Characterization& characterization) {
    reports::RoutingGroupStatistics group{name, {}};
    for (const auto& run : characterization.runs) {
      if (!run.label.zipfExponent) group.runs.push_back(run.statistics);
    }
    return group;
  }

  // What the trained models were built from (docs/reports.md): the corpus' fingerprint, root and
  // tokenizer hashes, and each checkpoint's id. Null when nothing was trained.
  nlohmann::json provenance() const {
    if (checkpoints.empty()) return nullptr;
    const auto manifest =
        text::readCorpusManifest(corpus.empty() ? text::defaultCorpusDirectory() : corpus);
    nlohmann::json p = {{"corpus_fingerprint", manifest.fingerprint},
                        {"corpus_root", manifest.root},
                        {"corpus_packages", manifest.packages.size()}};
    for (const auto& [name, tokenizer] : manifest.tokenizers) {
      p["tokenizers"][name] = tokenizer.model.fnv1a64;
    }
    for (const auto& [name, dir] : checkpoints) {
      p["checkpoints"][name] =
          nlohmann::json::parse(std::ifstream(dir / workloads::training::kTrainReportName))
              .value("checkpoint_id", std::string("?"));
    }
    return p;
  }

  size_t deploymentRunCount() const { return deployment ? DeploymentStudy::runCount() : 0; }

  // --deployment: Expert Buffering, prefetching and placement on live runs, in deployment/.
  std::vector<reports::ReproductionRow> runDeploymentStudy(StepClock& clock) const {
    if (!deployment) return {};
    const DeploymentStudy study{scale, repeats, threads, force, checkpoints};
    return reports::deploymentReproductionRows(study.run(out / "deployment", clock));
  }

  int execute() {
    checkScale();
    applyQuickDefaults();
    if (!force && std::filesystem::exists(out / "summary.json")) {
      throw InputError("--out '" + out.string() +
                       "' already holds a sweep (summary.json); choose a new directory or pass "
                       "--force");  // before minutes of training
    }
    collector::StopSignals signals;
    trainMissingModels();
    const auto runs = plan();
    StepClock clock(runs.size() + routingRunCount() + deploymentRunCount());
    auto points = executeSweep(runs, out, force, &clock);
    labelWeights(points);
    const reports::ReproductionExtras extras{
        reports::routingReproductionRows(characterizeRouting(clock)), runDeploymentStudy(clock),
        provenance()};
    writeSweepSummary(out, "moeprof reproduce: dynamic gating vs static gating", points, extras);
    std::cout << reports::reproductionTable(reports::allRows(points, extras)).toText() << "\n"
              << reports::sweepTable(points).toText()
              << "\nreport: " << (out / "summary.md").string();
    if (!checkpoints.empty()) std::cout << ", " << (out / "characterization.md").string();
    std::cout << "\n";
    // The HTML report with charts (and report.md, report.json) of everything above.
    const auto written = reports::writeReport(reports::buildReport({out}), out);
    std::cout << "html report: " << written.front().string() << "\n";
    return kExitOk;
  }
};

}  // namespace

Action addReproduceCommand(CLI::App& app) {
  auto command = std::make_shared<ReproduceCommand>();
  app.add_option("--scale", command->scale,
                 "preset family: cpu (default, fits 24 GB), tiny (seconds, for tests), paper "
                 "(exact shapes, large machines)")
      ->capture_default_str();
  command->repeatsOption =
      app.add_option("--repeats", command->repeats, "measured batches per run (--quick: 9)")
          ->capture_default_str();
  command->threadsOption =
      app.add_option("--threads", command->threads,
                     "LibTorch threads, 1..4096; default: one per core (--quick: 1)")
          ->check(threadCountValidator());
  command->outOption = app.add_option("--out", command->out,
                                      "directory for the runs and the report (--quick: "
                                      "runs/quick)")
                           ->capture_default_str();
  app.add_flag("--quick", command->quick,
               "the CI gate's short run (about a minute or two on 2 cores): static, dynamic and "
               "dense side by side on random weights, no training; compare it with "
               "reports/baselines/quick.json");
  app.add_flag("--deployment", command->deployment,
               "also the deployment study in --out/deployment (about a minute more at --scale "
               "cpu on 2 cores): MT with Expert Buffering at the paper's 10 slots per layer, "
               "fetching on demand, pre-gated and all-prefetch, against every expert resident; "
               "LM and MT on 2 ranks with round-robin, greedy and (MT) anti-correlation "
               "placement; their rows join the table beside the paper");
  app.add_flag("--force", command->force, "replace an earlier reproduction in --out");
  app.add_flag("--random-weights-only", command->randomOnly,
               "--scale cpu: skip training and characterize random weights only");
  app.add_option(
      "--corpus", command->corpus,
      "corpus for training (default: the cache of `moeprof corpus`, built when missing)");
  return [command] { return command->execute(); };
}

}  // namespace moeprof::cli
