// SwitchTransformers checkpoints (Hugging Face's switch_transformers layout: tensor names,
// (out, in) linear weights, one tensor per expert, config.json keys; F32 and BF16; single file
// and shards) load through loadMtModel and compute bit for bit what the model they were saved
// from computes; T5's relative position buckets and its unscaled, position-biased attention
// match hand computations of Hugging Face's formulas; missing, extra and mis-shaped tensors and
// unsupported options are refused naming them; `moeprof run --checkpoint` runs such a model.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "collector/run_manifest.h"
#include "tests/support/checkpoint_fixture.h"
#include "tests/support/input_error.h"
#include "tests/support/moeprof_command.h"
#include "workloads/checkpoints/checkpoint.h"
#include "workloads/checkpoints/hf_checkpoint.h"
#include "workloads/checkpoints/safetensors_tensors.h"
#include "workloads/model/presets.h"

namespace moeprof {
namespace {

namespace fs = std::filesystem;
using workloads::ForwardContext;
using workloads::GatingMode;
using workloads::HfFamily;
using workloads::ModelConfig;
using workloads::MtModel;
using workloads::NamedTensor;
using workloads::SafetensorsDtype;
using workloads::SafetensorsFile;

class HfSwitchTest : public testing::CheckpointDirTest {
 protected:
  const ModelConfig tiny =
      workloads::hfCompatibleConfig(workloads::findPreset("mt-tiny"), HfFamily::SwitchTransformers);
};

TEST_F(HfSwitchTest, LoadsBitIdenticalThroughLoadMtModel) {
  MtModel model(tiny, 9, at::kCPU);
  int64_t elements = 0;
  for (const auto& p : model.namedParameters()) elements += p.tensor.numel();
  EXPECT_EQ(elements, tiny.parameterCount());
  workloads::saveHfCheckpoint(model, dir_, HfFamily::SwitchTransformers);
  ASSERT_TRUE(workloads::isHfCheckpoint(dir_));
  auto read = workloads::describeCheckpoint(dir_).config;
  EXPECT_EQ(read.workload, workloads::WorkloadKind::Mt);
  EXPECT_EQ(read.parameterCount(), tiny.parameterCount());
  EXPECT_EQ(read.topK, 1);
  EXPECT_EQ(read.relativeAttentionBuckets, 32);
  EXPECT_FALSE(read.scaleAttention);
  EXPECT_EQ(read.decoderStartToken, 0);
  EXPECT_DOUBLE_EQ(read.outputHiddenScale, 0.25);  // 16^-0.5
  auto loaded = workloads::loadMtModel(dir_);
  for (auto gating : {GatingMode::Static, GatingMode::Dynamic}) {
    EXPECT_TRUE(at::equal(testing::mtOutputs(loaded, gating), testing::mtOutputs(model, gating)));
  }
  // Saved again as moeprof's own checkpoint, the T5 variants travel in its config.json.
  workloads::saveCheckpoint(loaded, dir_ / "own");
  auto own = workloads::loadMtModel(dir_ / "own");
  EXPECT_EQ(own.config().relativeAttentionBuckets, 32);
  EXPECT_TRUE(at::equal(testing::mtOutputs(own, GatingMode::Dynamic),
                        testing::mtOutputs(model, GatingMode::Dynamic)));
  MtModel other(tiny, 10, at::kCPU);  // the comparison can fail: another seed differs
  EXPECT_FALSE(at::equal(testing::mtOutputs(other, GatingMode::Dynamic),
                         testing::mtOutputs(model, GatingMode::Dynamic)));
}

// The decoder's relative positions follow the KV cache: step by step gives what teacher
// forcing over the whole prefix gives, and the relative bias changes the outputs.
TEST_F(HfSwitchTest, IncrementalDecodingMatchesTeacherForcing) {
  MtModel model(tiny, 9, at::kCPU);
  ForwardContext context;
  auto encoded = model.encode(testing::seededTokens(2, 5, tiny.vocab, 3), context);
  auto targets = testing::seededTokens(2, 4, tiny.vocab, 4);
  auto full = model.decode(targets, encoded, context);
  auto caches = model.newCaches();
  for (int64_t step = 0; step < 4; ++step) {
    auto logits = model.decodeStep(targets.narrow(1, step, 1), step, encoded, caches, context);
    EXPECT_TRUE(at::allclose(logits, full.select(1, step), 1e-5, 1e-5)) << step;
  }
  for (auto& p : model.namedParameters()) {
    if (p.name == "decoder.relative_attention_bias.weight") {
      p.tensor.copy_(at::arange(p.tensor.numel(), at::kFloat).view(p.tensor.sizes()));
    }
  }
  auto biased = model.decode(targets, encoded, context);
  EXPECT_GT((biased - full).abs().max().item<double>(), 1e-4);
}

TEST_F(HfSwitchTest, TensorsHaveHuggingFaceNamesShapesAndConfigKeys) {
  MtModel model(tiny, 9, at::kCPU);
  workloads::saveHfCheckpoint(model, dir_, HfFamily::SwitchTransformers);
  auto file = SafetensorsFile::open(dir_ / workloads::kSafetensorsFileName);
  std::map<std::string, at::Tensor> ours;
  for (const auto& p : model.namedParameters()) ours[p.name] = p.tensor;
  auto stored = [&](const std::string& name) {
    const auto* tensor = file.find(name);
    EXPECT_TRUE(tensor) << name;
    return tensor ? workloads::loadTensor(file, *tensor) : at::zeros({0});
  };
  EXPECT_TRUE(at::equal(stored("shared.weight"), ours["embed_tokens.weight"]));
  EXPECT_TRUE(
      at::equal(stored("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
                ours["encoder.relative_attention_bias.weight"]));
  EXPECT_EQ(stored("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight").sizes(),
            (std::vector<int64_t>{32, tiny.heads}));
  EXPECT_TRUE(at::equal(stored("encoder.block.1.layer.1.mlp.router.classifier.weight"),
                        ours["encoder.layers.1.moe.router.weight"].t()));
  EXPECT_TRUE(at::equal(stored("encoder.block.1.layer.1.mlp.experts.expert_3.wi.weight"),
                        ours["encoder.layers.1.moe.experts.w1"][3].t()));
  EXPECT_TRUE(at::equal(stored("decoder.block.3.layer.2.mlp.experts.expert_7.wo.weight"),
                        ours["decoder.layers.3.moe.experts.w2"][7].t()));
  EXPECT_EQ(stored("decoder.block.3.layer.2.mlp.experts.expert_7.wo.weight").sizes(),
            (std::vector<int64_t>{16, 32}));
  EXPECT_TRUE(at::equal(stored("decoder.block.0.layer.2.mlp.wi.weight"),
                        ours["decoder.layers.0.ffn.w1"][0].t()));
  EXPECT_TRUE(at::equal(stored("decoder.block.2.layer.1.EncDecAttention.k.weight"),
                        ours["decoder.layers.2.encoder_attn.k_proj.weight"].t()));
  EXPECT_TRUE(at::equal(stored("decoder.block.2.layer.0.SelfAttention.o.weight"),
                        ours["decoder.layers.2.self_attn.out_proj.weight"].t()));
  EXPECT_TRUE(at::equal(stored("decoder.block.2.layer.1.layer_norm.weight"),
                        ours["decoder.layers.2.encoder_attn_layer_norm.weight"]));
  EXPECT_TRUE(at::equal(stored("encoder.block.0.layer.1.layer_norm.weight"),
                        ours["encoder.layers.0.final_layer_norm.weight"]));
  EXPECT_TRUE(
      at::equal(stored("decoder.final_layer_norm.weight"), ours["decoder.layer_norm.weight"]));
  EXPECT_FALSE(file.find("lm_head.weight"));
  EXPECT_FALSE(file.find("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"));
  // Per stack: the relative bias, 4 blocks of q, k, v, o and 2 norms, 2 dense FFNs of 2, 2 MoE
  // FFNs of a router and 8 experts of 2, the final norm; the decoder adds cross-attention.
  const size_t encoder = 1 + 4 * (4 + 2) + 2 * 2 + 2 * (1 + 8 * 2) + 1;
  const size_t decoder = encoder + 4 * (4 + 1);
  EXPECT_EQ(file.tensors().size(), 1 + encoder + decoder);
  auto json = savedConfig();
  EXPECT_EQ(json["model_type"], "switch_transformers");
  EXPECT_EQ(json["architectures"][0], "SwitchTransformersForConditionalGeneration");
  EXPECT_EQ(json["d_model"], 16);
  EXPECT_EQ(json["d_kv"], 16 / tiny.heads);
  EXPECT_EQ(json["d_ff"], 32);
  EXPECT_EQ(json["num_layers"], 4);
  EXPECT_EQ(json["num_sparse_encoder_layers"], 2);
  EXPECT_EQ(json["num_sparse_decoder_layers"], 2);
  EXPECT_EQ(json["num_experts"], 8);
  EXPECT_EQ(json["relative_attention_num_buckets"], 32);
  EXPECT_EQ(json["tie_word_embeddings"], true);
  EXPECT_EQ(json["decoder_start_token_id"], 0);
  EXPECT_EQ(json["torch_dtype"], "float32");
}

// Hugging Face's sparse blocks are i % step == 1 (all for step 1), unlike fairseq's
// (i + 1) % step == 0: with 4 blocks and step 4, block 1 is the MoE one, not block 3.
TEST_F(HfSwitchTest, SparseBlocksFollowHuggingFacesRule) {
  auto config = tiny;
  config.moeEvery = 4;
  config = workloads::hfCompatibleConfig(config, HfFamily::SwitchTransformers);
  EXPECT_TRUE(config.isMoeBlock(1));
  EXPECT_FALSE(config.isMoeBlock(3));
  EXPECT_EQ(config.moeBlocksPerStack(), 1);
  MtModel model(config, 9, at::kCPU);
  workloads::saveHfCheckpoint(model, dir_, HfFamily::SwitchTransformers);
  EXPECT_EQ(savedConfig()["num_sparse_encoder_layers"], 1);
  {
    auto file = SafetensorsFile::open(dir_ / workloads::kSafetensorsFileName);
    EXPECT_TRUE(file.find("encoder.block.1.layer.1.mlp.router.classifier.weight"));
    EXPECT_TRUE(file.find("decoder.block.3.layer.2.mlp.wi.weight"));
  }
  EXPECT_TRUE(at::equal(testing::mtOutputs(workloads::loadMtModel(dir_), GatingMode::Dynamic),
                        testing::mtOutputs(model, GatingMode::Dynamic)));
  // Without the stored steps, Hugging Face derives them: num_layers // num_sparse_*_layers.
  const std::tuple<int, int, std::vector<int64_t>> cases[] = {
      {2, 2, {1, 3}}, {4, 1, {0, 1, 2, 3}}, {1, 4, {1}}, {0, 0, {}}};
  for (const auto& [sparse, step, blocks] : cases) {
    editConfig([&](auto& c) {
      c.erase("encoder_sparse_step");
      c.erase("decoder_sparse_step");
      c["num_sparse_encoder_layers"] = c["num_sparse_decoder_layers"] = sparse;
    });
    auto read = workloads::describeCheckpoint(dir_).config;
    std::vector<int64_t> moeBlocks;
    for (int64_t i = 0; i < read.layers; ++i) {
      if (read.isMoeBlock(i)) moeBlocks.push_back(i);
    }
    EXPECT_EQ(moeBlocks, blocks) << sparse;
    EXPECT_EQ(read.moeBlocksPerStack(), static_cast<int64_t>(blocks.size())) << sparse;
    EXPECT_EQ(read.moe ? read.moeEvery : 0, step) << sparse;
  }
}

TEST_F(HfSwitchTest, HalfPrecisionShardsEqualTheRoundedModel) {
  MtModel model(tiny, 9, at::kCPU);
  workloads::HfSaveOptions options;
  options.dtype = SafetensorsDtype::BF16;
  options.sharding.maxShardBytes = 16 * 1024;
  workloads::saveHfCheckpoint(model, dir_, HfFamily::SwitchTransformers, options);
  ASSERT_TRUE(fs::exists(dir_ / workloads::kSafetensorsIndexName));
  auto shards = workloads::SafetensorsShards::open(dir_);
  EXPECT_GT(shards.files().size(), 1u);
  EXPECT_EQ(shards.at("shared.weight").tensor->dtype, SafetensorsDtype::BF16);
  auto loaded = workloads::loadMtModel(dir_);
  EXPECT_FALSE(at::equal(testing::mtOutputs(loaded, GatingMode::Dynamic),
                         testing::mtOutputs(model, GatingMode::Dynamic)));
  for (auto& p : model.namedParameters()) p.tensor.copy_(p.tensor.to(at::kBFloat16));
  for (auto gating : {GatingMode::Static, GatingMode::Dynamic}) {
    EXPECT_TRUE(at::equal(testing::mtOutputs(loaded, gating), testing::mtOutputs(model, gating)));
  }
}

// Untied, lm_head.weight is its own tensor and the decoder output is not rescaled: with
// lm_head a copy of the shared embedding, logits are the tied model's times sqrt(d_model).
TEST_F(HfSwitchTest, UntiedLmHeadIsLoadedAndUnscaled) {
  MtModel tied(tiny, 9, at::kCPU);
  workloads::saveHfCheckpoint(tied, dir_, HfFamily::SwitchTransformers);
  editConfig([](auto& c) { c["tie_word_embeddings"] = false; });
  auto missing = mtLoadError();
  EXPECT_NE(missing.find("missing tensors 'lm_head.weight'"), std::string::npos) << missing;
  rewriteWeights([](auto& tensors) {
    auto shared = std::find_if(tensors.begin(), tensors.end(),
                               [](const auto& t) { return t.name == "shared.weight"; });
    tensors.push_back({"lm_head.weight", shared->tensor.clone()});
  });
  auto untied = workloads::loadMtModel(dir_);
  EXPECT_FALSE(untied.config().tiedOutput);
  EXPECT_EQ(untied.config().outputHiddenScale, 1.0);
  auto a = testing::mtOutputs(tied, GatingMode::Dynamic),
       b = testing::mtOutputs(untied, GatingMode::Dynamic);
  const int64_t encoded = 3 * 6 * tiny.dModel, logits = 3 * tiny.vocab;
  EXPECT_TRUE(at::equal(a.narrow(0, 0, encoded), b.narrow(0, 0, encoded)));
  EXPECT_TRUE(
      at::allclose(a.narrow(0, encoded, logits) * 4.0, b.narrow(0, encoded, logits), 1e-5, 1e-5));
  workloads::saveHfCheckpoint(untied, dir_ / "again", HfFamily::SwitchTransformers);
  EXPECT_TRUE(at::equal(
      testing::mtOutputs(workloads::loadMtModel(dir_ / "again"), GatingMode::Dynamic), b));
}

TEST_F(HfSwitchTest, MissingExtraAndMisShapedTensorsAreNamed) {
  MtModel model(tiny, 9, at::kCPU);
  const std::string victim = "decoder.block.3.layer.2.mlp.experts.expert_7.wi.weight";
  const std::string bias = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
  for (const auto& name : {victim, bias}) {
    workloads::saveHfCheckpoint(model, dir_, HfFamily::SwitchTransformers);
    rewriteWeights([&](auto& tensors) {
      std::erase_if(tensors, [&](const NamedTensor& t) { return t.name == name; });
    });
    auto missing = mtLoadError();
    EXPECT_NE(missing.find("missing tensors '" + name + "'"), std::string::npos) << missing;
  }
  // Only the first block of a stack holds the relative position bias.
  const std::string second = "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight";
  workloads::saveHfCheckpoint(model, dir_, HfFamily::SwitchTransformers);
  rewriteWeights([&](auto& tensors) { tensors.push_back({second, at::zeros({32, tiny.heads})}); });
  auto extra = mtLoadError();
  EXPECT_NE(extra.find("'" + second + "' are not parameters"), std::string::npos) << extra;

  workloads::saveHfCheckpoint(model, dir_, HfFamily::SwitchTransformers);
  rewriteWeights([&](auto& tensors) {
    for (auto& t : tensors) {
      if (t.name == victim) t.tensor = t.tensor.t().contiguous();
      if (t.name == bias) t.tensor = at::zeros({16, tiny.heads});
    }
  });
  auto shape = mtLoadError();
  EXPECT_NE(shape.find("has shape"), std::string::npos) << shape;
  EXPECT_TRUE(shape.find("tensor '" + victim + "' has shape [16, 32], expected [32, 16]") !=
                  std::string::npos ||
              shape.find("tensor '" + bias + "' has shape [16, " + std::to_string(tiny.heads) +
                         "], expected [32, ") != std::string::npos)
      << shape;

  // Tied copies of the shared embedding, as older Hugging Face saves keep them, are accepted.
  workloads::saveHfCheckpoint(model, dir_, HfFamily::SwitchTransformers);
  rewriteWeights([](auto& tensors) {
    auto shared = std::find_if(tensors.begin(), tensors.end(), [](const auto& t) {
                    return t.name == "shared.weight";
                  })->tensor;
    for (const char* copy :
         {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"}) {
      tensors.push_back({copy, shared.clone()});
    }
  });
  EXPECT_TRUE(at::equal(testing::mtOutputs(workloads::loadMtModel(dir_), GatingMode::Dynamic),
                        testing::mtOutputs(model, GatingMode::Dynamic)));
}

TEST_F(HfSwitchTest, UnsupportedOptionsAreRefusedNamingTheKey) {
  MtModel model(tiny, 9, at::kCPU);
  const std::pair<std::function<void(nlohmann::json&)>, std::string> cases[] = {
      {[](auto& c) { c["dense_act_fn"] = "gated-gelu"; },
       "dense_act_fn gated-gelu is not supported by moeprof, allowed: relu"},
      {[](auto& c) { c["feed_forward_proj"] = "gated-gelu"; }, "feed_forward_proj gated-gelu"},
      {[](auto& c) { c["num_selected_experts"] = 2; }, "num_selected_experts 2"},
      {[](auto& c) { c["router_bias"] = true; }, "router_bias true is not supported"},
      {[](auto& c) { c["router_dtype"] = "bfloat16"; }, "router_dtype bfloat16"},
      {[](auto& c) { c["d_kv"] = 4; }, "d_kv 4 differs from d_model 16"},
      {[](auto& c) { c["num_decoder_layers"] = 6; }, "num_layers 4 and num_decoder_layers 6"},
      {[](auto& c) { c["decoder_sparse_step"] = 4; }, "sparse step 2 and the decoder's 4 differ"},
      {[](auto& c) { c["relative_attention_num_buckets"] = 2; }, "relative_attention_num_buckets"},
      {[](auto& c) { c["decoder_start_token_id"] = 5000; }, "decoder_start_token_id is 5000"},
  };
  for (const auto& [edit, expected] : cases) {
    workloads::saveHfCheckpoint(model, dir_, HfFamily::SwitchTransformers);
    editConfig(edit);
    auto message = mtLoadError();
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_NE(message.find(dir_.string()), std::string::npos) << message;
  }
  // moeprof's own MT model (sinusoidal positions, top-2) has no SwitchTransformers config.
  MtModel own(workloads::findPreset("mt-tiny"), 9, at::kCPU);
  EXPECT_THROW(workloads::saveHfCheckpoint(own, dir_, HfFamily::SwitchTransformers),
               std::invalid_argument);
}

// Buckets worked out by hand from Hugging Face's _relative_position_bucket: n buckets (halved
// per sign when bidirectional), exact below n / 2, then
// n/2 + floor(log(distance / (n/2)) / log(max_distance / (n/2)) x n/2), capped at n - 1.
TEST(SwitchRelativePositionTest, BucketsMatchHandComputations) {
  struct Case {
    int64_t relative;
    bool bidirectional;
    int64_t buckets, maxDistance, bucket;
  };
  const Case cases[] = {
      {0, true, 32, 128, 0},     {-3, true, 32, 128, 3},     {3, true, 32, 128, 19},
      {-7, true, 32, 128, 7},    {-8, true, 32, 128, 8},     {-12, true, 32, 128, 9},
      {-20, true, 32, 128, 10},  {20, true, 32, 128, 26},    {-50, true, 32, 128, 13},
      {200, true, 32, 128, 31},  {-1000, true, 32, 128, 15}, {5, false, 32, 128, 0},
      {0, false, 32, 128, 0},    {-5, false, 32, 128, 5},    {-15, false, 32, 128, 15},
      {-16, false, 32, 128, 16}, {-100, false, 32, 128, 30}, {-1000, false, 32, 128, 31},
      {-1, true, 8, 20, 1},      {1, true, 8, 20, 5},        {-3, true, 8, 20, 2},
      {-9, true, 8, 20, 3},      {30, true, 8, 20, 7},
  };
  for (const auto& c : cases) {
    auto bucket = workloads::relativePositionBucket(at::tensor(std::vector<int64_t>{c.relative}),
                                                    c.bidirectional, c.buckets, c.maxDistance);
    EXPECT_EQ(bucket.item<int64_t>(), c.bucket)
        << c.relative << (c.bidirectional ? " bidirectional " : " causal ") << c.buckets << " "
        << c.maxDistance;
  }
  // The bias of queries [past, past + T) over keys [0, past + T): table rows by bucket.
  auto table = at::arange(32 * 2, at::kFloat).view({32, 2});
  auto bias = workloads::relativePositionBias(table, 2, 1, 3, /*bidirectional=*/false, 128);
  ASSERT_EQ(bias.sizes(), (std::vector<int64_t>{1, 2, 1, 3}));
  EXPECT_EQ(bias[0][1][0][0].item<float>(), table[2][1].item<float>());  // key 0: distance 2
  EXPECT_EQ(bias[0][0][0][2].item<float>(), table[0][0].item<float>());  // itself: bucket 0
}

// One encoder block of width 4 and one head, identity q/k/v/o, zero FFN: T5's attention on two
// tokens, by hand. Scores are u_t . u_s (no / sqrt(4)) plus the relative bias of bucket
// (s - t), bidirectional: bucket 0 for s = t, 1 for s - t = -1, 17 for s - t = +1.
TEST_F(HfSwitchTest, UnscaledAttentionWithRelativeBiasMatchesAHandComputation) {
  auto config = tiny;
  config.dModel = 4;
  config.heads = 1;
  config.layers = 1;
  config.ffnDim = 2;
  config.vocab = 5;
  config.moe = false;
  config.numExperts = config.topK = config.moeEvery = 1;
  config = workloads::hfCompatibleConfig(config, HfFamily::SwitchTransformers);
  MtModel model(config, 3, at::kCPU);
  at::Tensor embedding;
  for (auto& p : model.namedParameters()) {
    if (p.name == "embed_tokens.weight") {
      embedding = p.tensor;
    } else if (p.name == "encoder.relative_attention_bias.weight") {
      p.tensor.copy_(at::arange(32, at::kFloat).view({32, 1}) * 0.1);
    } else if (p.name.ends_with("layer_norm.weight")) {
      p.tensor.fill_(1.0);
    } else if (p.name.ends_with("_proj.weight")) {
      p.tensor.copy_(at::eye(4));
    } else {
      p.tensor.zero_();
    }
  }
  workloads::saveHfCheckpoint(model, dir_, HfFamily::SwitchTransformers);
  auto loaded = workloads::loadMtModel(dir_);
  const int64_t tokens[] = {3, 1};
  ForwardContext context;
  auto encoded = loaded.encode(at::tensor(std::vector<int64_t>{3, 1}).view({1, 2}), context);

  auto rms = [&](std::vector<double> x) {
    double meanSquare = 0;
    for (double v : x) meanSquare += v * v / x.size();
    for (double& v : x) v /= std::sqrt(meanSquare + 1e-6);
    return x;
  };
  auto hand = [&](int t, double scale, bool withBias) {
    std::vector<std::vector<double>> x(2), u(2);
    for (int s = 0; s < 2; ++s) {
      for (int j = 0; j < 4; ++j) x[s].push_back(embedding[tokens[s]][j].item<double>());
      u[s] = rms(x[s]);
    }
    const double biasOf[2][2] = {{0.0, 1.7}, {0.1, 0.0}};  // [query][key]
    double scores[2];
    for (int s = 0; s < 2; ++s) {
      scores[s] = withBias ? biasOf[t][s] : 0.0;
      for (int j = 0; j < 4; ++j) scores[s] += u[t][j] * u[s][j] * scale;
    }
    double w0 = 1 / (1 + std::exp(scores[1] - scores[0])), w1 = 1 - w0;
    std::vector<double> h(4);
    for (int j = 0; j < 4; ++j) h[j] = x[t][j] + w0 * u[0][j] + w1 * u[1][j];
    return rms(h);
  };
  double worst = 0, worstScaled = 0, worstUnbiased = 0;
  for (int t = 0; t < 2; ++t) {
    auto expected = hand(t, 1.0, true), scaled = hand(t, 0.5, true), unbiased = hand(t, 1.0, false);
    for (int j = 0; j < 4; ++j) {
      double got = encoded[0][t][j].item<double>();
      worst = std::max(worst, std::abs(got - expected[j]));
      worstScaled = std::max(worstScaled, std::abs(got - scaled[j]));
      worstUnbiased = std::max(worstUnbiased, std::abs(got - unbiased[j]));
    }
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(worstScaled, 1e-3);    // scaling by 1 / sqrt(d_kv) would show
  EXPECT_GT(worstUnbiased, 1e-3);  // and so would a missing relative bias
}

TEST_F(HfSwitchTest, RunCheckpointRunsTheModel) {
  MtModel model(tiny, 9, at::kCPU);
  workloads::saveHfCheckpoint(model, dir_ / "switch", HfFamily::SwitchTransformers);
  auto result = testing::runMoeprof("run --checkpoint " + path("switch") +
                                    " --repeats 1 --warmup 0 --batch 2 --out " + path("run"));
  ASSERT_EQ(result.exitCode, 0) << result.output;
  auto manifest = collector::readManifest(path("run"));
  EXPECT_EQ(manifest.config.at("workload"), "mt");
  EXPECT_EQ(manifest.config.at("checkpoint").at("path"), path("switch"));
  EXPECT_EQ(manifest.config.at("model").at("top_k"), 1);
  EXPECT_EQ(manifest.config.at("model").at("moe_layers"), 4);
  // The checkpoint has no id of its own: one derived from its files, stable across reads.
  const auto id = manifest.config.at("checkpoint").at("id").get<std::string>();
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id, workloads::describeCheckpoint(dir_ / "switch").id);
  workloads::HfSaveOptions bf16;
  bf16.dtype = SafetensorsDtype::BF16;
  workloads::saveHfCheckpoint(model, dir_ / "other", HfFamily::SwitchTransformers, bf16);
  EXPECT_NE(workloads::describeCheckpoint(dir_ / "other").id, id);
  // Expert Buffering moves the experts of this layout too, computing the same outputs.
  auto buffered = testing::runMoeprof("run --checkpoint " + path("switch") +
                                      " --repeats 1 --warmup 0 --batch 2 --buffering lifo" +
                                      " --cache-slots 4 --out " + path("buffered"));
  ASSERT_EQ(buffered.exitCode, 0) << buffered.output;
  EXPECT_EQ(collector::readManifest(path("buffered")).metrics.at("output_digest"),
            manifest.metrics.at("output_digest"));
  // An unsupported option exits 2 naming it, and writes no run.
  const auto configPath = dir_ / "switch" / workloads::kCheckpointConfigName;
  nlohmann::json config;
  std::ifstream(configPath) >> config;
  config["dense_act_fn"] = "gated-gelu";
  std::ofstream(configPath) << config.dump();
  auto refused = testing::runMoeprof("run --checkpoint " + path("switch") + " --out " + path("x"));
  EXPECT_EQ(refused.exitCode, 2) << refused.output;
  EXPECT_NE(refused.output.find("dense_act_fn gated-gelu"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(dir_ / "x"));
}

}  // namespace
}  // namespace moeprof
