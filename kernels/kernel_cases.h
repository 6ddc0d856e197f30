#pragma once
// The MoE kernel cases: one list that serves correctness and speed, as ggml's test-backend-ops
// does. Each case names a primitive, its shapes and dtype; its tolerance follows from the dtype.
// The CPU test (tests/unit/kernel_cases_test.cpp) runs every CPU path on every case; the GPU
// test (tests/gpu/kernel_cases_gpu_test.cpp, label gpu) runs the CUDA kernels (kernels/cuda/)
// on every case against the CPU kernels. Both draw fresh random inputs (never zeros); the GPU
// test fills the outputs with NaN before each launch, so an element a kernel does not write
// shows. No LibTorch here: this header is included by the CUDA-side tests too.
//
// Shapes: the presets' MoE layers (docs/presets.md), at prefill and at one decode step, and
// small ones that reach the edges (k = 1, k > 2, empty experts, drops, uneven tiles).
//   lm-cpu: d_model 64, FFN 256, 512 experts, top-2; batch 8 x 256 tokens (prefill S = 2048),
//           a decode step S = 8; capacity factor 0.05.
//   mt-cpu: d_model 64, FFN 256, 128 experts, top-2; encoder 48 x 16 tokens (S = 768), a
//           decoder step S = 48; capacity factor 1.0.
// Static dispatch at prefill uses the training capacity rule (C = CF k ceil(S / E), CF = 1):
// with the evaluation rule (C = CF S) the CPU reference's dense (S, E, C) tensors would be
// 432 MB (lm-cpu) and 300 MB (mt-cpu) each, too much for a unit test on a 2-core machine; the
// decode steps use the presets' evaluation rule.
#include <cstdint>
#include <string>
#include <vector>

namespace moeprof::kernels {

enum class KernelPrimitive {
  TopKGating,       // softmax, top-k, gate weights
  DynamicRouting,   // counts, offsets, sorted rows (stable by expert)
  DynamicDispatch,  // token rows gathered by expert
  DynamicCombine,   // gate-weighted sum back to token order
  StaticRouting,    // capacity slots, drops, renormalized gates
  StaticDispatch,   // (E, C, d) slot buffers
  StaticCombine,    // back to (S, d)
  GroupedFfn,       // relu(x w1 + b1) w2 + b2 per expert group
};

enum class KernelDtype { Float32, BFloat16, Float16 };

// |got - want| <= absolute + relative * |want|, elementwise.
struct Tolerance {
  double absolute = 0;
  double relative = 0;
};

// Per dtype. float32: the FFN's sums of up to 256 products in another order (GPU tiles, FMA)
// stay well within 1e-4 relative on unit-scale data. bf16 and fp16 (the grouped FFN only):
// inputs and weights are exactly representable in the dtype, the reference computes in float32
// from them, the kernel rounds the hidden layer and the output to the dtype (bf16: 8 bits of
// mantissa, about 0.4% per rounding; fp16: 11 bits).
inline Tolerance toleranceFor(KernelDtype dtype) {
  switch (dtype) {
    case KernelDtype::Float32:
      return {2e-5, 1e-4};
    case KernelDtype::BFloat16:
      return {2e-2, 2e-2};
    case KernelDtype::Float16:
      return {2e-3, 5e-3};
  }
  return {};
}

inline const char* primitiveName(KernelPrimitive p) {
  switch (p) {
    case KernelPrimitive::TopKGating:
      return "top_k_gating";
    case KernelPrimitive::DynamicRouting:
      return "dynamic_routing";
    case KernelPrimitive::DynamicDispatch:
      return "dynamic_dispatch";
    case KernelPrimitive::DynamicCombine:
      return "dynamic_combine";
    case KernelPrimitive::StaticRouting:
      return "static_routing";
    case KernelPrimitive::StaticDispatch:
      return "static_dispatch";
    case KernelPrimitive::StaticCombine:
      return "static_combine";
    case KernelPrimitive::GroupedFfn:
      return "grouped_ffn";
  }
  return "?";
}

struct KernelCase {
  std::string shape;  // e.g. "lm-cpu prefill"
  KernelPrimitive primitive;
  int64_t tokens;
  int64_t experts;
  int64_t topK;
  int64_t dModel;
  int64_t ffn;
  int64_t capacity = 0;           // static primitives: slots per expert
  bool batchPrioritized = false;  // static primitives: slot order
  KernelDtype dtype = KernelDtype::Float32;

  // A name usable as a gtest parameter name: letters, digits and underscores.
  std::string name() const {
    std::string text = std::string(primitiveName(primitive)) + "_" + shape;
    if (batchPrioritized) text += "_bpr";
    if (dtype == KernelDtype::BFloat16) text += "_bf16";
    if (dtype == KernelDtype::Float16) text += "_f16";
    for (char& c : text) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!ok) c = '_';
    }
    return text;
  }
};

namespace detail {

struct CaseShape {
  const char* shape;
  int64_t tokens, experts, topK, dModel, ffn, capacity;
};

inline const std::vector<CaseShape>& caseShapes() {
  // capacity: lm-cpu decode ceil(0.05 * 8) = 1 (eval); mt-cpu decode ceil(1.0 * 48) = 48 (eval);
  // prefill: CF k ceil(S / E) with CF = 1 (train rule, see above); small ones force drops.
  static const std::vector<CaseShape> shapes = {
      {"lm-cpu prefill", 2048, 512, 2, 64, 256, 8}, {"lm-cpu decode", 8, 512, 2, 64, 256, 1},
      {"mt-cpu encoder", 768, 128, 2, 64, 256, 12}, {"mt-cpu decode", 48, 128, 2, 64, 256, 48},
      {"small top1", 37, 5, 1, 12, 20, 6},          {"small top2", 53, 7, 2, 16, 24, 9},
      {"small top3 odd", 70, 9, 3, 10, 70, 13},     {"small many experts", 9, 40, 2, 8, 12, 1},
  };
  return shapes;
}

}  // namespace detail

// Every primitive on every shape, float32; the static ones in token order and, on two shapes,
// batch-prioritized; the grouped FFN also in bf16 and fp16 on three shapes.
inline std::vector<KernelCase> kernelCases() {
  std::vector<KernelCase> cases;
  const KernelPrimitive all[] = {KernelPrimitive::TopKGating,      KernelPrimitive::DynamicRouting,
                                 KernelPrimitive::DynamicDispatch, KernelPrimitive::DynamicCombine,
                                 KernelPrimitive::StaticRouting,   KernelPrimitive::StaticDispatch,
                                 KernelPrimitive::StaticCombine,   KernelPrimitive::GroupedFfn};
  for (const auto& s : detail::caseShapes()) {
    for (KernelPrimitive p : all) {
      cases.push_back({s.shape, p, s.tokens, s.experts, s.topK, s.dModel, s.ffn, s.capacity});
      const bool isStatic = p == KernelPrimitive::StaticRouting ||
                            p == KernelPrimitive::StaticDispatch ||
                            p == KernelPrimitive::StaticCombine;
      const std::string shape = s.shape;
      if (isStatic && (shape == "mt-cpu encoder" || shape == "small top2")) {
        cases.push_back(
            {s.shape, p, s.tokens, s.experts, s.topK, s.dModel, s.ffn, s.capacity, true});
      }
      if (p == KernelPrimitive::GroupedFfn &&
          (shape == "lm-cpu prefill" || shape == "mt-cpu decode" || shape == "small top3 odd")) {
        for (KernelDtype dtype : {KernelDtype::BFloat16, KernelDtype::Float16}) {
          cases.push_back(
              {s.shape, p, s.tokens, s.experts, s.topK, s.dModel, s.ffn, s.capacity, false, dtype});
        }
      }
    }
  }
  return cases;
}

}  // namespace moeprof::kernels
