#include "workloads/training/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "collector/atomic_file.h"
#include "collector/cache_directory.h"
#include "collector/errors.h"
#include "workloads/checkpoints/checkpoint.h"
#include "workloads/checkpoints/safetensors_tensors.h"
#include "workloads/model/presets.h"
#include "workloads/text/corpus.h"
#include "workloads/text/corpus_manifest.h"
#include "workloads/training/adamw.h"
#include "workloads/training/pregate_training.h"
#include "workloads/training/trainable_model.h"

namespace moeprof::workloads::training {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct SizeDefaults {
  int64_t steps, batch, seqLen;
  double lr;
  double balanceWeight = kDefaultBalanceWeight;
};

SizeDefaults sizeDefaults(WorkloadKind workload, const std::string& size) {
  const bool lm = workload == WorkloadKind::Lm;
  if (size == "micro") return lm ? SizeDefaults{80, 8, 32, 3e-3} : SizeDefaults{80, 16, 0, 3e-3};
  return lm ? SizeDefaults{300, 8, 128, 2e-3} : SizeDefaults{300, 24, 0, 2e-3};
}

// default: the preset the main job characterizes, with the corpus tokenizer's vocabulary;
// micro: a few thousand parameters besides the embedding, for tests.
ModelConfig sizeModel(WorkloadKind workload, const std::string& size, int64_t vocab,
                      int64_t seqLen) {
  ModelConfig c = findPreset(defaultPresetName(workload));
  c.name = std::string(workloadName(workload)) + "-" + size;
  c.vocab = vocab;
  if (size == "micro") {
    c.description = "micro " + std::string(workloadName(workload)) + " trained on the corpus";
    c.dModel = 32;
    c.ffnDim = 64;
    c.heads = 2;
    c.layers = 2;
    c.numExperts = 8;
    c.moeEvery = 1;
    c.maxPositions = 64;
    c.defaultBatch = 4;
    c.defaultSeqLen = workload == WorkloadKind::Lm ? 32 : 16;
    c.defaultDecodeSteps = workload == WorkloadKind::Lm ? 0 : 8;
    return c;
  }
  // lm-cpu itself (24 layers, 12 x 512 experts: 200M parameters) took about 60 s per step here
  // (2 cores, load average 6), far beyond 20 minutes; keep E, k, d_model and the MoE frequency
  // of LM, and cut layers and FFN width until a step takes seconds. MT takes every 2nd block as
  // MoE so that each stack has two (a pre-gate pair).
  c.description = std::string("trained on the corpus, ") + defaultPresetName(workload) +
                  " with fewer layers and a narrower FFN";
  c.layers = 4;
  c.ffnDim = 64;
  if (workload == WorkloadKind::Mt) c.moeEvery = 2;
  if (workload == WorkloadKind::Lm) c.defaultSeqLen = seqLen;  // the positions it learned
  return c;
}

void requirePositive(const char* flag, const std::optional<int64_t>& value, int64_t max) {
  if (value && (*value < 1 || *value > max)) {
    throw InputError(std::string(flag) + " " + std::to_string(*value) +
                     " is out of range: allowed 1.." + std::to_string(max));
  }
}

json readJson(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(text.str());
  } catch (const json::exception& e) {
    throw InputError(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

// What must agree between a run and the checkpoint it resumes or reuses.
json planJson(const TrainOptions& options, const TrainPlan& plan) {
  return {{"workload", workloadName(options.workload)},
          {"size", options.size},
          {"steps", plan.steps},
          {"batch", plan.batch},
          {"seq_len", plan.seqLen},
          {"lr", plan.lr},
          {"balance_weight", plan.balanceWeight},
          {"seed", options.seed},
          {"pregates", options.pregates},
          {"vocab", plan.model.vocab}};
}

double loadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return load;
}

// Linear warmup, then cosine decay to a tenth.
double learningRate(const TrainPlan& plan, int64_t step) {
  if (step <= plan.warmupSteps) return plan.lr * step / std::max<int64_t>(1, plan.warmupSteps);
  const double progress = static_cast<double>(step - plan.warmupSteps) /
                          std::max<int64_t>(1, plan.steps - plan.warmupSteps);
  return plan.lr * (0.1 + 0.45 * (1 + std::cos(M_PI * std::min(1.0, progress))));
}

// Mean cross-entropy per target token over the validation batches.
double validationLoss(const TrainableModel& model, const std::vector<TokenBatch>& valid) {
  at::NoGradGuard noGrad;
  double sum = 0;
  int64_t tokens = 0;
  for (const auto& batch : valid) {
    ForwardContext context;
    sum += model.lossSum(batch, context).item<double>();
    tokens += batch.targetTokens;
  }
  return sum / static_cast<double>(std::max<int64_t>(1, tokens));
}

// How evenly the trained routers spread the validation tokens, per MoE layer: the share of
// experts that receive any assignment, the hottest expert's share of the assignments, and the
// balance loss. A balance loss near 1 alone does not show balance: with near-uniform router
// probabilities it is near 1 whatever the choices are.
json validationRouting(const TrainableModel& model, const std::vector<TokenBatch>& valid) {
  at::NoGradGuard noGrad;
  std::map<int64_t, at::Tensor> counts;  // MoE layer -> assignments per expert
  std::map<int64_t, std::pair<double, int64_t>> balance;
  const int64_t experts = model.config().numExperts;
  for (const auto& batch : valid) {
    std::vector<MoeLayerTrace> traces;
    ForwardContext context;
    context.gating = GatingMode::Dynamic;
    context.layerTraces = &traces;
    (void)model.lossSum(batch, context);
    for (const auto& trace : traces) {
      auto c = at::bincount(trace.gating.expertIds.reshape({-1}), {}, experts);
      auto& total = counts[trace.moeLayerId];
      total = total.defined() ? total + c : c;
      auto& [sum, calls] = balance[trace.moeLayerId];
      sum += balanceLoss(trace).item<double>();
      ++calls;
    }
  }
  json layers = json::array();
  double usedSum = 0;
  for (const auto& [layer, c] : counts) {
    const double used = (c > 0).sum().item<double>() / static_cast<double>(experts);
    const double hottest = c.max().item<double>() / std::max(1.0, c.sum().item<double>());
    const auto& [sum, calls] = balance.at(layer);
    layers.push_back({{"moe_layer", layer},
                      {"experts_used", used},
                      {"hottest_share", hottest},
                      {"balance_loss", sum / static_cast<double>(calls)}});
    usedSum += used;
  }
  return {{"layers", layers},
          {"mean_experts_used", counts.empty() ? 0.0 : usedSum / counts.size()}};
}

// The state of a training between steps: what train_state.json holds besides the tensors.
struct Progress {
  int64_t step = 0;
  int64_t tokens = 0;
  double seconds = 0;
  json curve = json::array();
};

void saveState(const TrainableModel& model, const AdamW& optimizer, const Progress& progress,
               const json& plan, const fs::path& dir) {
  fs::remove(dir / kTrainStateName);  // stale until the new one is complete
  model.save(dir);
  const std::string id = describeCheckpoint(dir).id;
  std::vector<NamedTensor> state;
  for (const auto& s : optimizer.state()) state.push_back({s.name, s.tensor});
  saveTensors(dir / kOptimizerStateName, state, {{"moeprof_checkpoint_id", id}});
  json j{{"schema_version", kTrainSchemaVersion},
         {"checkpoint_id", id},
         {"plan", plan},
         {"step", progress.step},
         {"tokens", progress.tokens},
         {"seconds", progress.seconds},
         {"loss_curve", progress.curve}};
  collector::writeFileAtomically(dir / kTrainStateName, j.dump(1) + "\n");
}

// A checkpoint to resume: its weights, optimizer state and progress, all from one save.
Progress restoreState(const fs::path& dir, const json& plan, AdamW& optimizer) {
  json j = readJson(dir / kTrainStateName);
  if (j.value("schema_version", 0) != kTrainSchemaVersion || !j.contains("plan")) {
    throw InputError((dir / kTrainStateName).string() + ": not a train state of schema version " +
                     std::to_string(kTrainSchemaVersion));
  }
  if (j["plan"] != plan) {
    throw InputError("--resume: the checkpoint in " + dir.string() + " was trained with " +
                     j["plan"].dump() + ", not " + plan.dump() +
                     "; give the same options or train into another --out");
  }
  const std::string id = describeCheckpoint(dir).id;
  auto file = SafetensorsFile::open(dir / kOptimizerStateName);
  auto it = file.metadata().find("moeprof_checkpoint_id");
  if (j["checkpoint_id"] != id || it == file.metadata().end() || it->second != id) {
    throw InputError("--resume: the weights, optimizer state and train state in " + dir.string() +
                     " come from different saves; train again without --resume");
  }
  std::vector<NamedParameter> state;
  for (const auto& tensor : file.tensors())
    state.push_back({tensor.name, loadTensor(file, tensor)});
  Progress progress;
  progress.step = j.at("step").get<int64_t>();
  progress.tokens = j.at("tokens").get<int64_t>();
  progress.seconds = j.at("seconds").get<double>();
  progress.curve = j.at("loss_curve");
  optimizer.restore(state, progress.step);
  return progress;
}

std::string stepLine(int64_t step, int64_t steps, double loss, double aux, double tokensPerS) {
  char line[160];
  std::snprintf(line, sizeof line, "step %lld/%lld  loss %.3f  balance %.3f  %.0f tok/s",
                static_cast<long long>(step), static_cast<long long>(steps), loss, aux, tokensPerS);
  return line;
}

struct StepLosses {
  double crossEntropy = 0, balance = 0;
};

StepLosses trainStep(TrainableModel& model, AdamW& optimizer, const TokenBatch& batch,
                     const TrainPlan& plan, double lr) {
  std::vector<MoeLayerTrace> traces;
  ForwardContext context;
  context.gating = GatingMode::Dynamic;
  context.layerTraces = &traces;
  auto crossEntropy = model.lossSum(batch, context) / static_cast<double>(batch.targetTokens);
  at::Tensor balance = at::zeros({}, crossEntropy.options());
  for (const auto& trace : traces) balance = balance + balanceLoss(trace);
  if (!traces.empty()) balance = balance / static_cast<double>(traces.size());
  traces.clear();
  (crossEntropy + balance * plan.balanceWeight).backward();
  optimizer.step(lr);
  return {crossEntropy.item<double>(), balance.item<double>()};
}

}  // namespace

void checkTrainOptions(const TrainOptions& options) {
  if (options.size != "default" && options.size != "micro") {
    throw InputError("--size '" + options.size + "' is not one of: default, micro");
  }
  requirePositive("--steps", options.steps, 10'000'000);
  requirePositive("--batch", options.batch, 4096);
  requirePositive("--threads", options.threads ? std::optional(options.threads) : std::nullopt,
                  4096);
  if (options.lr && (!(*options.lr > 0) || *options.lr > 1)) {
    throw InputError("--lr " + std::to_string(*options.lr) + " is out of range: allowed (0, 1]");
  }
  if (options.balanceWeight && !(*options.balanceWeight >= 0 && *options.balanceWeight <= 100)) {
    throw InputError("--balance-weight " + std::to_string(*options.balanceWeight) +
                     " is out of range: allowed [0, 100]");
  }
  if (options.stopAfter) {
    requirePositive("--stop-after", options.stopAfter,
                    options.steps.value_or(sizeDefaults(options.workload, options.size).steps));
  }
  fs::path dir = resolvedTrainDirectory(options);
  if (fs::exists(dir) && !fs::is_directory(dir)) {
    throw InputError("--out '" + dir.string() + "' exists and is not a directory");
  }
  if (options.resume && !fs::exists(dir / kTrainStateName)) {
    throw InputError("--resume: " + dir.string() + " holds no training checkpoint (" +
                     kTrainStateName + "); train without --resume first");
  }
}

TrainPlan planTraining(const TrainOptions& options, int64_t vocab) {
  auto defaults = sizeDefaults(options.workload, options.size);
  TrainPlan plan;
  plan.steps = options.steps.value_or(defaults.steps);
  plan.batch = options.batch.value_or(defaults.batch);
  plan.seqLen = defaults.seqLen;
  plan.lr = options.lr.value_or(defaults.lr);
  plan.balanceWeight = options.balanceWeight.value_or(defaults.balanceWeight);
  plan.model = sizeModel(options.workload, options.size, vocab, plan.seqLen);
  plan.warmupSteps = std::max<int64_t>(1, plan.steps / 20);
  plan.checkpointEvery = std::max<int64_t>(1, plan.steps / 4);
  plan.validBatches = options.size == "micro" ? 4 : 16;
  plan.pregateSteps = options.pregates ? std::max<int64_t>(10, plan.steps / 5) : 0;
  return plan;
}

fs::path defaultModelDirectory(WorkloadKind workload, const std::string& size) {
  return collector::moeprofCacheDirectory() / "models" /
         (std::string(workloadName(workload)) + "-" + size);
}

fs::path resolvedTrainDirectory(const TrainOptions& options) {
  return options.out.empty() ? defaultModelDirectory(options.workload, options.size) : options.out;
}

namespace {

fs::path corpusDirectory(const TrainOptions& options) {
  return options.corpus.empty() ? text::defaultCorpusDirectory() : options.corpus;
}

// The fingerprint of the corpus a model is trained on ("" before the corpus is built).
std::string corpusFingerprint(const fs::path& corpus) {
  if (!fs::exists(corpus / text::kCorpusManifestFileName)) return "";
  return text::readCorpusManifest(corpus).fingerprint;
}

}  // namespace

bool trainedModelMatches(const fs::path& dir, const TrainOptions& options) {
  if (!fs::exists(dir / kTrainReportName) || !fs::exists(dir / kCheckpointConfigName)) return false;
  try {
    json report = readJson(dir / kTrainReportName);
    // A model of another corpus (built from another root, or an older one) is trained again.
    const std::string corpus = corpusFingerprint(corpusDirectory(options));
    if (corpus.empty() || report.value("corpus_fingerprint", "") != corpus) return false;
    const json& plan = report.at("plan");
    auto defaults = sizeDefaults(options.workload, options.size);
    return plan.at("workload") == workloadName(options.workload) &&
           plan.at("size") == options.size &&
           plan.at("steps") == options.steps.value_or(defaults.steps) &&
           plan.at("batch") == options.batch.value_or(defaults.batch) &&
           plan.at("lr") == options.lr.value_or(defaults.lr) &&
           plan.value("balance_weight", -1.0) ==
               options.balanceWeight.value_or(defaults.balanceWeight) &&
           plan.at("seed") == options.seed && plan.at("pregates") == options.pregates &&
           report.at("checkpoint_id") == describeCheckpoint(dir).id;
  } catch (const std::exception&) {
    return false;  // unreadable: train again
  }
}

std::string spinningThreadsWarning(int64_t threads) {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const double load = loadAverage();
  if (threads == 1 || load < 1.0 || (policy && std::string(policy) == "PASSIVE")) return "";
  char line[320];
  std::snprintf(line, sizeof line,
                "warning: load average %.1f and OMP_WAIT_POLICY is not PASSIVE: LibTorch's "
                "threads spin against the other work and can make training many times slower; "
                "export OMP_WAIT_POLICY=PASSIVE or pass --threads 1",
                load);
  return line;
}

TrainOutcome trainModel(const TrainOptions& options, const TrainProgress& progress) {
  checkTrainOptions(options);
  TrainOutcome outcome;
  outcome.dir = resolvedTrainDirectory(options);
  const fs::path& dir = outcome.dir;
  if (!options.resume && !options.stopAfter && trainedModelMatches(dir, options)) {
    outcome.report = readJson(dir / kTrainReportName);
    outcome.reused = true;
    return outcome;
  }
  at::set_num_threads(static_cast<int>(
      options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency())));
  fs::path corpus = corpusDirectory(options);
  if (!fs::exists(corpus / text::kCorpusManifestFileName)) {
    if (progress) progress("building the corpus in " + corpus.string());
    text::CorpusBuildOptions build;
    build.out = corpus;
    text::buildCorpus(build, progress);
  }
  if (progress) progress("tokenizing the corpus");
  CorpusLimits limits;
  if (options.size == "micro") limits.trainTokensPerPart = 200'000;
  auto data = TrainingData::load(options.workload, corpus, limits);
  TrainPlan plan = planTraining(options, data.vocab());
  const json planText = planJson(options, plan);
  const bool resume =
      options.resume || (options.resumeIfPossible && fs::exists(dir / kTrainStateName));

  std::unique_ptr<TrainableModel> model = resume ? loadTrainableModel(dir, options.workload)
                                                 : newTrainableModel(plan.model, options.seed);
  auto parameters = model->namedParameters();
  for (auto& p : parameters) p.tensor.requires_grad_(true);
  AdamW optimizer(parameters, {});
  Progress state;
  if (resume) state = restoreState(dir, planText, optimizer);
  fs::create_directories(dir);
  fs::remove(dir / kTrainReportName);  // the directory holds an unfinished training from now on

  const int64_t last = options.stopAfter.value_or(plan.steps);
  const int64_t sampleEvery = std::max<int64_t>(1, plan.steps / 50);
  const double loadAtStart = loadAverage();
  auto start = Clock::now();
  const double secondsBefore = state.seconds;
  StepLosses losses;
  for (int64_t step = state.step + 1; step <= last; ++step) {
    auto batch = data.trainBatch(options.seed, step, plan.batch, plan.seqLen);
    losses = trainStep(*model, optimizer, batch, plan, learningRate(plan, step));
    state.step = step;
    state.tokens += batch.targetTokens;
    state.seconds = secondsBefore + std::chrono::duration<double>(Clock::now() - start).count();
    if (step % sampleEvery == 0 || step == plan.steps) {
      state.curve.push_back({{"step", step},
                             {"loss", losses.crossEntropy},
                             {"balance_loss", losses.balance},
                             {"lr", learningRate(plan, step)}});
    }
    if (progress) {
      progress(stepLine(step, plan.steps, losses.crossEntropy, losses.balance,
                        state.tokens / std::max(1e-9, state.seconds)));
    }
    if (step % plan.checkpointEvery == 0 || step == last) {
      saveState(*model, optimizer, state, planText, dir);
    }
  }
  if (last < plan.steps) {
    outcome.stopped = true;
    return outcome;
  }
  for (auto& p : parameters) p.tensor.requires_grad_(false);

  if (progress) progress("validating");
  auto valid = data.validBatches(plan.batch, plan.seqLen, plan.validBatches);
  const double validLoss = validationLoss(*model, valid);
  const json validRouting = validationRouting(*model, valid);
  int64_t validTokens = 0;
  for (const auto& b : valid) validTokens += b.targetTokens;
  json pregates = json::object();
  if (options.pregates) {
    pregates["training"] = trainPregates(*model, data, plan, options.seed, progress);
    model->save(dir);
  }
  pregates["accuracy"] = pregateAccuracy(*model, valid);
  fs::copy_file(data.tokenizerPath(), dir / kCheckpointTokenizerName,
                fs::copy_options::overwrite_existing);

  json report{
      {"schema_version", kTrainSchemaVersion},
      {"checkpoint_id", describeCheckpoint(dir).id},
      {"model", plan.model.name},
      {"parameters", plan.model.parameterCount()},
      {"plan", planText},
      {"threads", at::get_num_threads()},
      {"load_average_at_start", loadAtStart},
      {"omp_wait_policy", std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : ""},
      {"steps", state.step},
      {"time_s", state.seconds},
      {"tokens", state.tokens},
      {"tokens_per_s", state.tokens / std::max(1e-9, state.seconds)},
      {"loss_curve", state.curve},
      {"final_train_loss", losses.crossEntropy},
      {"balance_loss", losses.balance},
      {"balance_weight", plan.balanceWeight},
      {"val_tokens", validTokens},
      {"val_loss", validLoss},
      {"val_perplexity", std::exp(validLoss)},
      {"unigram_perplexity", data.unigramPerplexity(valid)},
      {"val_routing", validRouting},
      {"pregates", pregates},
      {"corpus", corpus.string()},
      {"corpus_fingerprint", corpusFingerprint(corpus)},
      {"tokenizer", kCheckpointTokenizerName}};
  collector::writeFileAtomically(dir / kTrainReportName, report.dump(2) + "\n");
  outcome.report = report;
  return outcome;
}

}  // namespace moeprof::workloads::training
