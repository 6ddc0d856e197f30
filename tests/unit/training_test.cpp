// Training (workloads/training): micro models on a corpus built from a fake Debian tree learn
// (loss falls below the unigram baseline), resume exactly, train pre-gates that the checkpoint
// round-trips, and the expert kernels keep gradients under autograd.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "collector/errors.h"
#include "kernels/expert_ffn.h"
#include "tests/support/fake_corpus_root.h"
#include "tests/support/moeprof_command.h"
#include "workloads/checkpoints/checkpoint.h"
#include "workloads/text/corpus.h"
#include "workloads/text/corpus_manifest.h"
#include "workloads/text/tokenizer.h"
#include "workloads/training/train_data.h"
#include "workloads/training/trainer.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using workloads::WorkloadKind;
using workloads::training::TrainOptions;

// One corpus for the whole suite: building it (tokenizers included) is the slow part.
class TrainingTest : public testing::TempDirTest {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("moeprof_training_" + std::to_string(getpid()));
    fs::remove_all(root_);
    testing::writeFakeCorpusRoot(root_ / "root");
    text::CorpusBuildOptions build;
    build.root = root_ / "root";
    build.out = root_ / "corpus";
    build.lmVocab = 90;
    build.mtVocab = 96;
    build.threads = 1;
    text::buildCorpus(build);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  TrainOptions micro(WorkloadKind workload, const std::string& out, int64_t steps) const {
    TrainOptions o;
    o.workload = workload;
    o.size = "micro";
    o.steps = steps;
    o.corpus = root_ / "corpus";
    o.out = path(out);
    o.threads = 1;
    return o;
  }

  static fs::path root_;
};

fs::path TrainingTest::root_;

void expectLearned(const nlohmann::json& report) {
  const auto& curve = report.at("loss_curve");
  ASSERT_GE(curve.size(), 2u);
  double first = curve.front().at("loss").get<double>();
  double last = curve.back().at("loss").get<double>();
  EXPECT_LT(last, first * 0.8) << report.dump(1);
  EXPECT_LT(report.at("val_perplexity").get<double>(),
            report.at("unigram_perplexity").get<double>())
      << report.dump(1);
  EXPECT_GT(report.at("val_tokens").get<int64_t>(), 0);
  EXPECT_GT(report.at("balance_loss").get<double>(), 0.9);  // 1 is perfectly balanced
  // Validation routing per MoE layer: shares within their bounds, and the mean of the layers.
  const auto& routing = report.at("val_routing");
  const auto& layers = routing.at("layers");
  ASSERT_FALSE(layers.empty()) << routing.dump(1);
  constexpr double kMicroExperts = 8;  // the micro size's E
  double usedSum = 0;
  for (const auto& layer : layers) {
    const double used = layer.at("experts_used").get<double>();
    EXPECT_GT(used, 0.0);
    EXPECT_LE(used, 1.0);
    EXPECT_GE(layer.at("hottest_share").get<double>(), 1.0 / kMicroExperts);  // max >= mean
    EXPECT_LE(layer.at("hottest_share").get<double>(), 1.0);
    usedSum += used;
  }
  EXPECT_NEAR(routing.at("mean_experts_used").get<double>(), usedSum / layers.size(), 1e-12);
}

TEST_F(TrainingTest, LmLossFallsBelowTheUnigramBaseline) {
  auto outcome = workloads::training::trainModel(micro(WorkloadKind::Lm, "lm", 60));
  expectLearned(outcome.report);
  EXPECT_TRUE(fs::exists(dir_ / "lm" / workloads::training::kTrainReportName));
  EXPECT_TRUE(fs::exists(dir_ / "lm" / workloads::training::kCheckpointTokenizerName));
  auto again = workloads::training::trainModel(micro(WorkloadKind::Lm, "lm", 60));
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(again.report.at("checkpoint_id"), outcome.report.at("checkpoint_id"));
}

// A model is reused only for the corpus it was trained on: the same settings on a corpus with
// another fingerprint (built from another root) train again.
TEST_F(TrainingTest, AModelOfAnotherCorpusIsNotReused) {
  auto options = micro(WorkloadKind::Lm, "lm", 4);
  auto outcome = workloads::training::trainModel(options);
  EXPECT_EQ(outcome.report.at("corpus_fingerprint"),
            text::readCorpusManifest(root_ / "corpus").fingerprint);
  EXPECT_TRUE(workloads::training::trainedModelMatches(dir_ / "lm", options));
  const fs::path other = dir_ / "other-corpus";
  fs::copy(root_ / "corpus", other, fs::copy_options::recursive);
  auto manifest = nlohmann::json::parse(std::ifstream(other / text::kCorpusManifestFileName));
  manifest["sources"]["fingerprint"] = "0123456789abcdef";
  std::ofstream(other / text::kCorpusManifestFileName) << manifest.dump();
  options.corpus = other;
  EXPECT_FALSE(workloads::training::trainedModelMatches(dir_ / "lm", options));
}

TEST_F(TrainingTest, MtLossFallsBelowTheUnigramBaseline) {
  auto outcome = workloads::training::trainModel(micro(WorkloadKind::Mt, "mt", 60));
  expectLearned(outcome.report);
  auto model = workloads::loadMtModel(dir_ / "mt");
  // The vocabulary is the corpus tokenizer's (SentencePiece may make it smaller than asked).
  EXPECT_EQ(model.config().vocab,
            text::Tokenizer::load(root_ / "corpus/tokenizers/mt.model").vocabSize());
}

void expectSameWeights(const fs::path& a, const fs::path& b) {
  auto left = workloads::loadLmModel(a).namedParameters();
  auto right = workloads::loadLmModel(b).namedParameters();
  ASSERT_EQ(left.size(), right.size());
  for (size_t i = 0; i < left.size(); ++i) {
    EXPECT_TRUE(at::equal(left[i].tensor, right[i].tensor)) << left[i].name;
  }
}

TEST_F(TrainingTest, ResumingContinuesExactly) {
  workloads::training::trainModel(micro(WorkloadKind::Lm, "whole", 12));
  auto half = micro(WorkloadKind::Lm, "pieces", 12);
  half.stopAfter = 6;
  auto stopped = workloads::training::trainModel(half);
  EXPECT_TRUE(stopped.stopped);
  EXPECT_FALSE(fs::exists(dir_ / "pieces" / workloads::training::kTrainReportName));
  auto rest = micro(WorkloadKind::Lm, "pieces", 12);
  rest.resume = true;
  auto finished = workloads::training::trainModel(rest);
  EXPECT_EQ(finished.report.at("steps"), 12);
  expectSameWeights(dir_ / "whole", dir_ / "pieces");
  // A resume with other settings is refused rather than mixing two trainings.
  auto other = micro(WorkloadKind::Lm, "pieces", 14);
  other.resume = true;
  EXPECT_THROW(workloads::training::trainModel(other), InputError);
}

TEST_F(TrainingTest, PregatesAreTrainedReportedAndRoundTrip) {
  auto options = micro(WorkloadKind::Lm, "pregated", 40);
  options.pregates = true;
  auto report = workloads::training::trainModel(options).report;
  const auto& accuracy = report.at("pregates").at("accuracy");
  for (const char* key : {"router_recall", "trained_recall"}) {
    double recall = accuracy.at(key).get<double>();
    EXPECT_GE(recall, 0.0) << key;
    EXPECT_LE(recall, 1.0) << key;
  }
  EXPECT_GT(accuracy.at("tokens").get<int64_t>(), 0);
  EXPECT_EQ(accuracy.at("layer_pairs"), 1);  // micro LM: two MoE layers
  // Training a pre-gate is worth it only if it predicts the next layer's experts at least as
  // well as the training-free prediction (that layer's own router applied a layer early).
  EXPECT_GE(accuracy.at("trained_recall").get<double>(), accuracy.at("router_recall").get<double>())
      << accuracy.dump();
  auto config = workloads::describeCheckpoint(dir_ / "pregated").config;
  EXPECT_TRUE(config.pregates);
  auto model = workloads::loadLmModel(dir_ / "pregated");
  auto layers = model.moeLayers();
  ASSERT_EQ(layers.size(), 2u);
  ASSERT_TRUE(layers[0]->pregate.defined());
  EXPECT_FALSE(layers[1]->pregate.defined());  // the stack's last MoE layer has no next
  EXPECT_FALSE(at::equal(layers[0]->pregate, layers[1]->router));  // trained away from it
  workloads::saveCheckpoint(model, dir_ / "copy");
  auto copy = workloads::loadLmModel(dir_ / "copy");
  EXPECT_TRUE(at::equal(copy.moeLayers()[0]->pregate, layers[0]->pregate));
  // Without pregates in config.json the stored pre-gate is an extra tensor: refused.
  auto configText = nlohmann::json::parse(std::ifstream(dir_ / "copy" / "config.json"));
  configText["model"]["pregates"] = false;
  std::ofstream(dir_ / "copy" / "config.json") << configText.dump();
  EXPECT_THROW(workloads::loadLmModel(dir_ / "copy"), InputError);
}

TEST(TrainingKernels, GroupedExpertFfnKeepsGradientsUnderAutograd) {
  const int64_t experts = 4, dModel = 6, ffn = 5;
  auto make = [](at::IntArrayRef shape, int seed) {
    return at::randn(shape, at::make_generator<at::CPUGeneratorImpl>(seed));
  };
  kernels::ExpertWeights weights{make({experts, dModel, ffn}, 1), make({experts, ffn}, 2),
                                 make({experts, ffn, dModel}, 3), make({experts, dModel}, 4)};
  std::vector<int64_t> counts{3, 0, 1, 4};
  auto x = make({8, dModel}, 5);
  auto inference = kernels::groupedExpertFfn(weights, x, counts);  // the CBLAS kernel
  for (auto* t : {&weights.w1, &weights.b1, &weights.w2, &weights.b2}) t->requires_grad_(true);
  auto trained = kernels::groupedExpertFfn(weights, x, counts);
  ASSERT_TRUE(trained.requires_grad());
  EXPECT_TRUE(at::allclose(trained, inference, 1e-5, 1e-5));
  trained.pow(2).sum().backward();
  auto gradW1 = weights.w1.grad().clone();
  EXPECT_GT(gradW1[0].abs().sum().item<double>(), 0);
  EXPECT_EQ(gradW1[1].abs().sum().item<double>(), 0);  // expert 1 had no tokens
  for (auto* t : {&weights.w1, &weights.b1, &weights.w2, &weights.b2}) t->mutable_grad().reset();
  auto reference =
      kernels::groupedExpertFfnAten([&](int64_t e) { return weights.expert(e); }, x, counts);
  reference.pow(2).sum().backward();
  EXPECT_TRUE(at::allclose(weights.w1.grad(), gradW1, 1e-5, 1e-5));
}

}  // namespace
}  // namespace moeprof
