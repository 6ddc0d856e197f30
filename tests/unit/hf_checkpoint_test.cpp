// Hugging Face checkpoints: NLLB-MoE, Mixtral, OLMoE and Qwen2-MoE checkpoints written in
// Hugging Face's layouts (tensor names, (out, in) linear weights, one tensor per expert and
// projection, config.json keys; F32, BF16, F16; single file and shards) load through
// loadMtModel / loadLmModel and compute bit for bit what the model they were saved from
// computes; missing, extra and mis-shaped tensors, unknown model types and unsupported options
// are refused naming them; NLLB-MoE's positions and embedding scale, and Mixtral's RMSNorm and
// rotary positions, match hand computations of what Hugging Face's modelling code does.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <optional>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

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
using workloads::LmModel;
using workloads::MtModel;
using workloads::NamedTensor;
using workloads::SafetensorsDtype;
using workloads::SafetensorsFile;

class HfCheckpointTest : public testing::CheckpointDirTest {
 protected:
  const workloads::ModelConfig nllbTiny =
      workloads::hfCompatibleConfig(workloads::findPreset("mt-tiny"), HfFamily::NllbMoe);
};

TEST_F(HfCheckpointTest, NllbMoeLoadsBitIdenticalThroughLoadMtModel) {
  MtModel model(nllbTiny, 9, at::kCPU);
  workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe);
  ASSERT_TRUE(workloads::isHfCheckpoint(dir_));
  auto read = workloads::describeCheckpoint(dir_).config;
  EXPECT_EQ(read.workload, workloads::WorkloadKind::Mt);
  EXPECT_EQ(read.dModel, nllbTiny.dModel);
  EXPECT_EQ(read.layers, nllbTiny.layers);
  EXPECT_EQ(read.numExperts, nllbTiny.numExperts);
  EXPECT_EQ(read.moeEvery, nllbTiny.moeEvery);
  EXPECT_EQ(read.positionOffset, 2);
  EXPECT_EQ(read.expertOutputScale, nllbTiny.expertOutputScale);
  EXPECT_EQ(read.parameterCount(), nllbTiny.parameterCount());
  auto loaded = workloads::loadMtModel(dir_);
  for (auto gating : {GatingMode::Static, GatingMode::Dynamic}) {
    EXPECT_TRUE(at::equal(testing::mtOutputs(loaded, gating), testing::mtOutputs(model, gating)));
  }
  MtModel other(nllbTiny, 10, at::kCPU);  // the comparison can fail: another seed differs
  EXPECT_FALSE(at::equal(testing::mtOutputs(other, GatingMode::Dynamic),
                         testing::mtOutputs(model, GatingMode::Dynamic)));
}

TEST_F(HfCheckpointTest, NllbMoeTensorsHaveHuggingFaceNamesShapesAndConfigKeys) {
  MtModel model(nllbTiny, 9, at::kCPU);
  workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe);
  auto file = SafetensorsFile::open(dir_ / workloads::kSafetensorsFileName);
  std::map<std::string, at::Tensor> ours;
  for (const auto& p : model.namedParameters()) ours[p.name] = p.tensor;
  auto stored = [&](const std::string& name) {
    const auto* tensor = file.find(name);
    EXPECT_TRUE(tensor) << name;
    return tensor ? workloads::loadTensor(file, *tensor) : at::Tensor();
  };
  const auto& experts = ours["encoder.layers.1.moe.experts.w1"];
  EXPECT_TRUE(at::equal(stored("model.shared.weight"), ours["embed_tokens.weight"]));
  EXPECT_TRUE(at::equal(stored("model.encoder.layers.1.ffn.router.classifier.weight"),
                        ours["encoder.layers.1.moe.router.weight"].t()));
  EXPECT_TRUE(
      at::equal(stored("model.encoder.layers.1.ffn.experts.expert_3.fc1.weight"), experts[3].t()));
  EXPECT_TRUE(at::equal(stored("model.decoder.layers.3.ffn.experts.expert_7.fc2.bias"),
                        ours["decoder.layers.3.moe.experts.b2"][7]));
  EXPECT_TRUE(at::equal(stored("model.decoder.layers.0.ffn.fc2.weight"),
                        ours["decoder.layers.0.ffn.w2"][0].t()));
  EXPECT_TRUE(at::equal(stored("model.decoder.layers.2.cross_attention.k_proj.weight"),
                        ours["decoder.layers.2.encoder_attn.k_proj.weight"].t()));
  EXPECT_TRUE(at::equal(stored("model.decoder.layers.2.cross_attention_layer_norm.bias"),
                        ours["decoder.layers.2.encoder_attn_layer_norm.bias"]));
  EXPECT_TRUE(at::equal(stored("model.encoder.layers.0.ff_layer_norm.weight"),
                        ours["encoder.layers.0.final_layer_norm.weight"]));
  EXPECT_TRUE(
      at::equal(stored("model.decoder.layer_norm.weight"), ours["decoder.layer_norm.weight"]));
  EXPECT_EQ(stored("model.encoder.layers.1.ffn.experts.expert_0.fc2.weight").sizes(),
            (std::vector<int64_t>{16, 32}));
  EXPECT_FALSE(file.find("lm_head.weight"));
  // Per stack: 2 dense blocks, 2 MoE blocks of 8 experts; the decoder adds cross-attention.
  const size_t attention = 8, norm = 2, ffn = 4, perExpertBlock = 1 + 8 * ffn;
  const size_t encoder = 4 * (attention + 2 * norm) + 2 * ffn + 2 * perExpertBlock + norm;
  const size_t decoder = encoder + 4 * (attention + norm);
  EXPECT_EQ(file.tensors().size(), 1 + encoder + decoder);
  auto json = savedConfig();
  EXPECT_EQ(json["model_type"], "nllb-moe");
  EXPECT_EQ(json["architectures"][0], "NllbMoeForConditionalGeneration");
  EXPECT_EQ(json["encoder_sparse_step"], 2);
  EXPECT_EQ(json["decoder_sparse_step"], 2);
  EXPECT_EQ(json["num_experts"], 8);
  EXPECT_EQ(json["d_model"], 16);
  EXPECT_EQ(json["encoder_ffn_dim"], 32);
  EXPECT_EQ(json["pad_token_id"], 1);
  EXPECT_NEAR(json["moe_token_dropout"].get<double>(), 0.2, 1e-12);
  EXPECT_EQ(json["torch_dtype"], "float32");
}

TEST_F(HfCheckpointTest, HalfPrecisionShardsEqualTheRoundedModel) {
  for (auto [dtype, type] : {std::pair{SafetensorsDtype::BF16, at::kBFloat16},
                             std::pair{SafetensorsDtype::F16, at::kHalf}}) {
    MtModel model(nllbTiny, 9, at::kCPU);
    workloads::HfSaveOptions options;
    options.dtype = dtype;
    options.sharding.maxShardBytes = 16 * 1024;
    workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe, options);
    ASSERT_TRUE(fs::exists(dir_ / workloads::kSafetensorsIndexName));
    auto shards = workloads::SafetensorsShards::open(dir_);
    EXPECT_GT(shards.files().size(), 1u);
    EXPECT_EQ(shards.at("model.shared.weight").tensor->dtype, dtype);
    auto loaded = workloads::loadMtModel(dir_);
    EXPECT_FALSE(at::equal(testing::mtOutputs(loaded, GatingMode::Dynamic),
                           testing::mtOutputs(model, GatingMode::Dynamic)));
    for (auto& p : model.namedParameters()) p.tensor.copy_(p.tensor.to(type));
    for (auto gating : {GatingMode::Static, GatingMode::Dynamic}) {
      EXPECT_TRUE(at::equal(testing::mtOutputs(loaded, gating), testing::mtOutputs(model, gating)))
          << workloads::dtypeName(dtype);
    }
  }
}

TEST_F(HfCheckpointTest, MissingExtraAndMisShapedTensorsAreNamed) {
  MtModel model(nllbTiny, 9, at::kCPU);
  const std::string victim = "model.decoder.layers.3.ffn.experts.expert_7.fc1.weight";
  workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe);
  rewriteWeights([&](auto& tensors) {
    std::erase_if(tensors, [&](const NamedTensor& t) { return t.name == victim; });
  });
  auto missing = mtLoadError();
  EXPECT_NE(missing.find("missing tensors '" + victim + "'"), std::string::npos) << missing;

  workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe);
  rewriteWeights([](auto& tensors) {
    tensors.push_back({"model.encoder.layers.0.ffn.bonus", at::ones({2})});
  });
  auto extra = mtLoadError();
  EXPECT_NE(extra.find("'model.encoder.layers.0.ffn.bonus' are not parameters"), std::string::npos)
      << extra;

  workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe);
  rewriteWeights([&](auto& tensors) {
    for (auto& t : tensors) {
      if (t.name == victim) t.tensor = t.tensor.t().contiguous();
    }
  });
  auto shape = mtLoadError();
  EXPECT_NE(shape.find("tensor '" + victim + "' has shape [16, 32], expected [32, 16]"),
            std::string::npos)
      << shape;

  // Tied copies of the shared embedding, as other writers keep them, are accepted.
  workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe);
  rewriteWeights([](auto& tensors) {
    auto shared = std::find_if(tensors.begin(), tensors.end(),
                               [](const auto& t) { return t.name == "model.shared.weight"; });
    tensors.push_back({"lm_head.weight", shared->tensor.clone()});
  });
  auto loaded = workloads::loadMtModel(dir_);
  EXPECT_TRUE(at::equal(testing::mtOutputs(loaded, GatingMode::Dynamic),
                        testing::mtOutputs(model, GatingMode::Dynamic)));
}

TEST_F(HfCheckpointTest, UnknownModelTypesAndUnsupportedOptionsAreRefused) {
  MtModel model(nllbTiny, 9, at::kCPU);
  workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe);
  const std::pair<std::function<void(nlohmann::json&)>, std::string> cases[] = {
      {[](auto& c) { c["model_type"] = "gpt2"; },
       "model_type 'gpt2' is not supported, allowed: nllb-moe"},
      {[](auto& c) { c["second_expert_policy"] = "random"; },
       "second_expert_policy random is not supported by moeprof, allowed: all"},
      {[](auto& c) { c["activation_function"] = "gelu"; }, "activation_function gelu"},
      {[](auto& c) { c["router_bias"] = true; }, "router_bias true is not supported"},
      {[](auto& c) { c["decoder_layers"] = 6; }, "encoder_layers 4 and decoder_layers 6 differ"},
      {[](auto& c) { c["d_model"] = "wide"; }, "d_model is \"wide\", allowed: an integer"},
      {[](auto& c) { c["num_experts"] = 1000000; }, "more parameters than the"},
  };
  for (const auto& [edit, expected] : cases) {
    workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe);
    editConfig(edit);
    auto message = mtLoadError();
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_NE(message.find(dir_.string()), std::string::npos) << message;
  }
  workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe);
  auto notLm = testing::inputErrorMessage([&] { workloads::loadLmModel(dir_); });
  EXPECT_NE(notLm.find("not an lm model"), std::string::npos) << notLm;
  // A model whose positions start at 0 has no NLLB-MoE config.
  MtModel own(workloads::findPreset("mt-tiny"), 9, at::kCPU);
  EXPECT_THROW(workloads::saveHfCheckpoint(own, dir_, HfFamily::NllbMoe), std::invalid_argument);
}

// With every weight zero but the embedding (and the norms' gains one), attention and FFNs add
// nothing: the encoder output is the final layer norm of the scaled embedding plus the
// sinusoidal position, which Hugging Face's NLLB-MoE counts from pad id + 1 = 2.
TEST_F(HfCheckpointTest, EncoderPositionsAndEmbeddingScaleMatchAHandComputation) {
  MtModel model(nllbTiny, 9, at::kCPU);
  for (auto& p : model.namedParameters()) {
    if (p.name == "embed_tokens.weight") continue;
    p.tensor.fill_(p.name.ends_with("layer_norm.weight") ? 1.0 : 0.0);
  }
  workloads::saveHfCheckpoint(model, dir_, HfFamily::NllbMoe);
  auto loaded = workloads::loadMtModel(dir_);
  auto source = testing::seededTokens(1, 3, nllbTiny.vocab, 4);
  ForwardContext context;
  auto encoded = loaded.encode(source, context);
  const auto embedding = model.namedParameters()[0].tensor;
  const int64_t d = nllbTiny.dModel, half = d / 2;
  auto handEncoded = [&](int64_t position, int64_t offset) {
    std::vector<double> x(d);
    for (int64_t j = 0; j < d; ++j) {
      double rate = std::exp(-(j % half) * std::log(10000.0) / (half - 1));
      double angle = static_cast<double>(position + offset) * rate;
      x[j] = embedding[source[0][position].item<int64_t>()][j].item<double>() * std::sqrt(d) +
             (j < half ? std::sin(angle) : std::cos(angle));
    }
    double mean = 0, variance = 0;
    for (double v : x) mean += v / d;
    for (double v : x) variance += (v - mean) * (v - mean) / d;
    for (double& v : x) v = (v - mean) / std::sqrt(variance + 1e-5);
    return x;
  };
  double worstWithOffset = 0, worstWithout = 0;
  for (int64_t s = 0; s < 3; ++s) {
    auto expected = handEncoded(s, 2), unshifted = handEncoded(s, 0);
    for (int64_t j = 0; j < d; ++j) {
      double got = encoded[0][s][j].item<double>();
      worstWithOffset = std::max(worstWithOffset, std::abs(got - expected[j]));
      worstWithout = std::max(worstWithout, std::abs(got - unshifted[j]));
    }
  }
  EXPECT_LT(worstWithOffset, 1e-4);
  EXPECT_GT(worstWithout, 1e-2);  // the offset is visible in the output
}

class HfDecoderTest : public HfCheckpointTest, public ::testing::WithParamInterface<HfFamily> {
 protected:
  workloads::ModelConfig tiny() const {
    return workloads::hfCompatibleConfig(workloads::findPreset("lm-tiny"), GetParam());
  }
  std::string lmLoadError() {
    return testing::inputErrorMessage([&] { workloads::loadLmModel(dir_); });
  }
};

TEST_P(HfDecoderTest, LoadsBitIdenticalThroughLoadLmModel) {
  const auto config = tiny();
  LmModel model(config, 5, at::kCPU);
  int64_t elements = 0;
  for (const auto& p : model.namedParameters()) elements += p.tensor.numel();
  EXPECT_EQ(elements, config.parameterCount());
  workloads::saveHfCheckpoint(model, dir_, GetParam());
  EXPECT_EQ(savedConfig()["model_type"], workloads::hfModelType(GetParam()));
  auto read = workloads::describeCheckpoint(dir_).config;
  EXPECT_EQ(read.parameterCount(), config.parameterCount());
  EXPECT_EQ(read.kvHeadCount(), config.kvHeadCount());
  EXPECT_EQ(read.gateNorm, config.gateNorm);
  EXPECT_EQ(read.capacityFactor, config.capacityFactor);
  auto loaded = workloads::loadLmModel(dir_);
  for (auto gating : {GatingMode::Static, GatingMode::Dynamic}) {
    EXPECT_TRUE(at::equal(testing::lmLogits(loaded, gating), testing::lmLogits(model, gating)));
  }
  // Saved again as moeprof's own checkpoint, the variants travel in its config.json.
  workloads::saveCheckpoint(loaded, dir_ / "own");
  auto own = workloads::loadLmModel(dir_ / "own");
  EXPECT_TRUE(at::equal(testing::lmLogits(own, GatingMode::Dynamic),
                        testing::lmLogits(model, GatingMode::Dynamic)));
  LmModel other(config, 6, at::kCPU);
  EXPECT_FALSE(at::equal(testing::lmLogits(other, GatingMode::Dynamic),
                         testing::lmLogits(model, GatingMode::Dynamic)));
  // Rotary positions continue across the KV cache: 5 tokens then 3 give the full run's logits.
  auto tokens = testing::seededTokens(2, 8, config.vocab, 11);
  ForwardContext context;
  auto full = loaded.forward(tokens, context);
  auto caches = loaded.newCaches();
  auto first = loaded.forward(tokens.narrow(1, 0, 5), context, &caches);
  auto rest = loaded.forward(tokens.narrow(1, 5, 3), context, &caches);
  EXPECT_TRUE(at::allclose(at::cat({first, rest}, 1), full, 1e-5, 1e-5));
}

TEST_P(HfDecoderTest, MissingAndMisShapedTensorsAreNamed) {
  LmModel model(tiny(), 5, at::kCPU);
  workloads::saveHfCheckpoint(model, dir_, GetParam());
  const std::string victim = "model.layers.2.self_attn.k_proj.weight";
  rewriteWeights([&](auto& tensors) {
    std::erase_if(tensors, [&](const NamedTensor& t) { return t.name == victim; });
  });
  auto missing = lmLoadError();
  EXPECT_NE(missing.find("missing tensors '" + victim + "'"), std::string::npos) << missing;
  workloads::saveHfCheckpoint(model, dir_, GetParam());
  rewriteWeights([&](auto& tensors) {
    for (auto& t : tensors) {
      if (t.name == victim) t.tensor = at::zeros({t.tensor.size(0) + 1, t.tensor.size(1)});
    }
  });
  auto shape = lmLoadError();
  EXPECT_NE(shape.find("tensor '" + victim + "' has shape"), std::string::npos) << shape;
  auto notMt = testing::inputErrorMessage([&] { workloads::loadMtModel(dir_); });
  EXPECT_NE(notMt.find("not an mt model"), std::string::npos) << notMt;
}

INSTANTIATE_TEST_SUITE_P(Families, HfDecoderTest,
                         ::testing::Values(HfFamily::Mixtral, HfFamily::Olmoe, HfFamily::Qwen2Moe),
                         [](const auto& info) {
                           return std::string(info.param == HfFamily::Mixtral ? "Mixtral"
                                              : info.param == HfFamily::Olmoe ? "Olmoe"
                                                                              : "Qwen2Moe");
                         });

TEST_F(HfCheckpointTest, DecoderTensorsHaveHuggingFaceNamesShapesAndConfigKeys) {
  const auto& lmTiny = workloads::findPreset("lm-tiny");
  std::map<std::string, at::Tensor> ours;
  std::optional<SafetensorsFile> file;
  auto save = [&](HfFamily family) {
    file.reset();
    LmModel model(workloads::hfCompatibleConfig(lmTiny, family), 5, at::kCPU);
    workloads::saveHfCheckpoint(model, dir_, family);
    file = SafetensorsFile::open(dir_ / workloads::kSafetensorsFileName);
    ours.clear();
    for (const auto& p : model.namedParameters()) ours[p.name] = p.tensor;
  };
  auto stored = [&](const std::string& name) {
    const auto* tensor = file->find(name);
    EXPECT_TRUE(tensor) << name;
    return tensor ? workloads::loadTensor(*file, *tensor) : at::zeros({0});
  };
  const std::string block = "decoder.layers.1.";
  save(HfFamily::Mixtral);
  auto w1 = ours[block + "moe.experts.w1"][3];  // (16, 2 x 32): gate columns, then up
  const std::string expert = "model.layers.1.block_sparse_moe.experts.3.";
  EXPECT_TRUE(at::equal(stored(expert + "w1.weight"), w1.narrow(1, 0, 32).t()));
  EXPECT_TRUE(at::equal(stored(expert + "w3.weight"), w1.narrow(1, 32, 32).t()));
  EXPECT_TRUE(at::equal(stored(expert + "w2.weight"), ours[block + "moe.experts.w2"][3].t()));
  EXPECT_TRUE(at::equal(stored("model.layers.1.block_sparse_moe.gate.weight"),
                        ours[block + "moe.router.weight"].t()));
  EXPECT_EQ(stored("model.layers.1.self_attn.k_proj.weight").sizes(),
            (std::vector<int64_t>{8, 16}));  // one KV head of 8 for two query heads
  EXPECT_TRUE(at::equal(stored("model.layers.1.self_attn.o_proj.weight"),
                        ours[block + "self_attn.out_proj.weight"].t()));
  EXPECT_TRUE(at::equal(stored("model.layers.1.input_layernorm.weight"),
                        ours[block + "self_attn_layer_norm.weight"]));
  EXPECT_TRUE(at::equal(stored("model.layers.1.post_attention_layernorm.weight"),
                        ours[block + "final_layer_norm.weight"]));
  EXPECT_TRUE(at::equal(stored("model.norm.weight"), ours["decoder.layer_norm.weight"]));
  EXPECT_TRUE(at::equal(stored("lm_head.weight"), ours["lm_head.weight"]));
  EXPECT_TRUE(at::equal(stored("model.embed_tokens.weight"), ours["embed_tokens.weight"]));
  EXPECT_FALSE(file->find("model.layers.1.self_attn.q_proj.bias"));
  // Per block: q, k, v, o, 2 norms, the router, 8 experts of 3; then embedding, norm, lm_head.
  EXPECT_EQ(file->tensors().size(), 4u * (4 + 2 + 1 + 8 * 3) + 3);
  auto mixtral = savedConfig();
  EXPECT_EQ(mixtral["num_local_experts"], 8);
  EXPECT_EQ(mixtral["num_experts_per_tok"], 2);
  EXPECT_EQ(mixtral["num_key_value_heads"], 1);
  EXPECT_EQ(mixtral["intermediate_size"], 32);
  EXPECT_EQ(mixtral["tie_word_embeddings"], false);

  save(HfFamily::Qwen2Moe);
  auto shared = ours[block + "moe.shared_expert.w1"][0];  // (16, 2 x 64)
  EXPECT_TRUE(at::equal(stored("model.layers.1.mlp.shared_expert.up_proj.weight"),
                        shared.narrow(1, 64, 64).t()));
  EXPECT_TRUE(at::equal(stored("model.layers.1.mlp.shared_expert_gate.weight"),
                        ours[block + "moe.shared_expert_gate.weight"].t()));
  EXPECT_TRUE(at::equal(stored("model.layers.1.mlp.experts.5.down_proj.weight"),
                        ours[block + "moe.experts.w2"][5].t()));
  EXPECT_TRUE(at::equal(stored("model.layers.1.self_attn.v_proj.bias"),
                        ours[block + "self_attn.v_proj.bias"]));
  EXPECT_FALSE(file->find("model.layers.1.self_attn.o_proj.bias"));
  auto qwen = savedConfig();
  EXPECT_EQ(qwen["moe_intermediate_size"], 32);
  EXPECT_EQ(qwen["shared_expert_intermediate_size"], 64);
  EXPECT_EQ(qwen["norm_topk_prob"], false);
  EXPECT_EQ(qwen["num_experts"], 8);

  save(HfFamily::Olmoe);
  EXPECT_TRUE(at::equal(stored("model.layers.1.self_attn.q_norm.weight"),
                        ours[block + "self_attn.q_norm.weight"]));
  EXPECT_EQ(stored("model.layers.1.self_attn.k_norm.weight").sizes(), (std::vector<int64_t>{16}));
  EXPECT_TRUE(at::equal(stored("model.layers.1.mlp.experts.0.gate_proj.weight"),
                        ours[block + "moe.experts.w1"][0].narrow(1, 0, 32).t()));
  EXPECT_EQ(savedConfig()["model_type"], "olmoe");
  file.reset();
}

// Mixtral's numerics by hand on a one-block model of width 4 and one head: RMSNorm of the
// embedding, rotary positions on query and key (identity projections), causal attention over
// two tokens, no expert contribution (zero down projections), final RMSNorm, identity lm_head.
TEST_F(HfCheckpointTest, MixtralRmsNormAndRotaryPositionsMatchAHandComputation) {
  auto config = workloads::hfCompatibleConfig(workloads::findPreset("lm-tiny"), HfFamily::Mixtral);
  config.dModel = 4;
  config.heads = config.kvHeads = 1;
  config.layers = 1;
  config.ffnDim = 2;
  config.vocab = 5;
  LmModel model(config, 3, at::kCPU);
  at::Tensor embedding;
  for (auto& p : model.namedParameters()) {
    if (p.name == "embed_tokens.weight") {
      embedding = p.tensor;
    } else if (p.name.ends_with("layer_norm.weight")) {
      p.tensor.fill_(1.0);
    } else if (p.name.ends_with("_proj.weight")) {
      p.tensor.copy_(at::eye(4));
    } else if (p.name == "lm_head.weight") {
      p.tensor.zero_().narrow(0, 0, 4).copy_(at::eye(4));
    } else {
      p.tensor.zero_();
    }
  }
  workloads::saveHfCheckpoint(model, dir_, HfFamily::Mixtral);
  auto loaded = workloads::loadLmModel(dir_);
  const int64_t tokens[] = {3, 1};
  ForwardContext context;
  auto logits = loaded.forward(at::tensor(std::vector<int64_t>{3, 1}).view({1, 2}), context);

  auto rms = [&](std::vector<double> x) {
    double meanSquare = 0;
    for (double v : x) meanSquare += v * v / x.size();
    for (double& v : x) v /= std::sqrt(meanSquare + config.normEps);
    return x;
  };
  auto rotate = [&](std::vector<double> x, double position) {
    std::vector<double> out(4);
    for (int i = 0; i < 2; ++i) {
      double angle = position / std::pow(config.ropeTheta, 2.0 * i / 4.0);
      out[i] = x[i] * std::cos(angle) - x[i + 2] * std::sin(angle);
      out[i + 2] = x[i + 2] * std::cos(angle) + x[i] * std::sin(angle);
    }
    return out;
  };
  auto hand = [&](bool withRotary) {
    std::vector<std::vector<double>> x(2), u(2), q(2);
    for (int t = 0; t < 2; ++t) {
      for (int j = 0; j < 4; ++j) x[t].push_back(embedding[tokens[t]][j].item<double>());
      u[t] = rms(x[t]);
      q[t] = withRotary ? rotate(u[t], t) : u[t];
    }
    double scores[2];
    for (int s = 0; s < 2; ++s) {
      scores[s] = 0;
      for (int j = 0; j < 4; ++j) scores[s] += q[1][j] * q[s][j] / 2.0;  // / sqrt(head dim)
    }
    double w0 = 1 / (1 + std::exp(scores[1] - scores[0])), w1 = 1 - w0;
    std::vector<double> h(4);
    for (int j = 0; j < 4; ++j) h[j] = x[1][j] + w0 * u[0][j] + w1 * u[1][j];
    return rms(h);
  };
  auto expected = hand(true), unrotated = hand(false);
  double worst = 0, worstUnrotated = 0;
  for (int j = 0; j < 4; ++j) {
    double got = logits[0][1][j].item<double>();
    worst = std::max(worst, std::abs(got - expected[j]));
    worstUnrotated = std::max(worstUnrotated, std::abs(got - unrotated[j]));
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(worstUnrotated, 1e-3);  // the rotation is visible in the output
  EXPECT_EQ(logits[0][1][4].item<double>(), 0.0);
}

// Grouped KV heads as Hugging Face's repeat_kv: query heads 0, 1 read KV head 0 and heads 2, 3
// read KV head 1, which is what four KV heads computing those copies give.
TEST_F(HfCheckpointTest, GroupedKvHeadsMatchRepeatedKvHeads) {
  auto grouped = workloads::hfCompatibleConfig(workloads::findPreset("lm-tiny"), HfFamily::Mixtral);
  grouped.heads = 4;
  grouped.kvHeads = 2;
  auto full = grouped;
  full.kvHeads = 4;
  LmModel a(grouped, 5, at::kCPU), b(full, 5, at::kCPU);
  auto pa = a.namedParameters(), pb = b.namedParameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    const auto& name = pa[i].name;
    if (name.ends_with("k_proj.weight") || name.ends_with("v_proj.weight")) {
      auto kv = pa[i].tensor;  // (16, 2 x 4)
      pb[i].tensor.copy_(at::cat(
          {kv.narrow(1, 0, 4), kv.narrow(1, 0, 4), kv.narrow(1, 4, 4), kv.narrow(1, 4, 4)}, 1));
    } else {
      pb[i].tensor.copy_(pa[i].tensor);
    }
  }
  auto logits = testing::lmLogits(a, GatingMode::Dynamic);
  EXPECT_TRUE(at::allclose(logits, testing::lmLogits(b, GatingMode::Dynamic), 1e-5, 1e-6));
  // Tiling instead (heads 0, 2 on KV head 0) computes something else.
  for (size_t i = 0; i < pa.size(); ++i) {
    if (pa[i].name.ends_with("k_proj.weight")) pb[i].tensor.copy_(pa[i].tensor.repeat({1, 2}));
  }
  EXPECT_FALSE(at::allclose(logits, testing::lmLogits(b, GatingMode::Dynamic), 1e-5, 1e-6));
}

TEST_F(HfCheckpointTest, DecoderOptionsMoeprofDoesNotImplementAreRefused) {
  const auto& lmTiny = workloads::findPreset("lm-tiny");
  const std::tuple<HfFamily, std::function<void(nlohmann::json&)>, std::string> cases[] = {
      {HfFamily::Mixtral, [](auto& c) { c["hidden_act"] = "gelu"; }, "hidden_act gelu"},
      {HfFamily::Mixtral, [](auto& c) { c["sliding_window"] = 4; }, "sliding_window 4"},
      {HfFamily::Mixtral, [](auto& c) { c["head_dim"] = 4; }, "head_dim 4"},
      {HfFamily::Mixtral, [](auto& c) { c["num_key_value_heads"] = 3; }, "num_key_value_heads"},
      {HfFamily::Olmoe, [](auto& c) { c["clip_qkv"] = 8.0; }, "clip_qkv set"},
      {HfFamily::Qwen2Moe, [](auto& c) { c["mlp_only_layers"] = {1}; }, "mlp_only_layers"},
      {HfFamily::Qwen2Moe, [](auto& c) { c["decoder_sparse_step"] = 2; }, "decoder_sparse_step 2"},
      {HfFamily::Qwen2Moe,
       [](auto& c) {
         c["rope_scaling"] = {{"type", "linear"}};
       },
       "rope_scaling set"},
  };
  for (const auto& [family, edit, expected] : cases) {
    LmModel model(workloads::hfCompatibleConfig(lmTiny, family), 5, at::kCPU);
    workloads::saveHfCheckpoint(model, dir_, family);
    editConfig(edit);
    auto message = testing::inputErrorMessage([&] { workloads::loadLmModel(dir_); });
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace moeprof
