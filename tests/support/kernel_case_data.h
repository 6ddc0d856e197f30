#pragma once
// Inputs and CPU results for the kernel cases of kernels/kernel_cases.h, shared by the CPU test
// (tests/unit/kernel_cases_test.cpp) and the GPU test (tests/gpu/kernel_cases_gpu_test.cpp).
// Inputs are drawn fresh from a seed, never zeros: unit-normal logits and activations, weights
// scaled by 1/sqrt(fan-in), normal biases. The CPU results come from the existing ATen/CBLAS
// kernels (kernels/*.cpp); the compact forms below are what the CUDA kernels take and produce.
#include <cmath>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "kernels/dynamic_dispatch.h"
#include "kernels/expert_ffn.h"
#include "kernels/gating.h"
#include "kernels/kernel_cases.h"
#include "kernels/static_dispatch.h"

namespace moeprof::kernels {

// gtest prints a case by its name (test names and failure messages), not as bytes.
inline void PrintTo(const KernelCase& c, std::ostream* os) {
  *os << c.name();
}

}  // namespace moeprof::kernels

namespace moeprof::testing {

inline at::Tensor normalTensor(std::vector<int64_t> shape, at::Generator& gen, double scale = 1) {
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)).mul_(scale);
}

inline at::ScalarType atenDtype(kernels::KernelDtype dtype) {
  switch (dtype) {
    case kernels::KernelDtype::BFloat16:
      return at::kBFloat16;
    case kernels::KernelDtype::Float16:
      return at::kHalf;
    case kernels::KernelDtype::Float32:
      break;
  }
  return at::kFloat;
}

struct KernelCaseData {
  kernels::KernelCase spec;
  at::Tensor logits;  // (S, E)
  at::Tensor x;       // (S, d)
  kernels::TopKGating gating;
  kernels::DynamicRouting dynamic;
  kernels::StaticRouting staticRouting;  // static primitives only
  at::Tensor expertOut;                  // combines' input: (S*k, d) dynamic, (E, C, d) static
  kernels::ExpertWeights weights;        // grouped FFN only
  at::Tensor groupedX;                   // grouped FFN input: (S*k, d), rows sorted by expert
};

inline bool isStatic(kernels::KernelPrimitive p) {
  return p == kernels::KernelPrimitive::StaticRouting ||
         p == kernels::KernelPrimitive::StaticDispatch ||
         p == kernels::KernelPrimitive::StaticCombine;
}

// The inputs of a case and the CPU routing they lead to.
inline KernelCaseData makeKernelCaseData(const kernels::KernelCase& c, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  KernelCaseData d;
  d.spec = c;
  d.logits = normalTensor({c.tokens, c.experts}, gen, 2.0);
  d.x = normalTensor({c.tokens, c.dModel}, gen);
  d.gating = kernels::topKGating(d.logits, c.topK);
  d.dynamic = kernels::buildDynamicRouting(d.gating);
  if (isStatic(c.primitive)) {
    d.staticRouting = kernels::buildStaticRouting(
        d.gating, c.capacity,
        c.batchPrioritized ? kernels::SlotOrder::BatchPrioritized : kernels::SlotOrder::Token);
    d.expertOut = normalTensor({c.experts, c.capacity, c.dModel}, gen);
  } else {
    d.expertOut = normalTensor({c.tokens * c.topK, c.dModel}, gen);
  }
  if (c.primitive == kernels::KernelPrimitive::GroupedFfn) {
    d.weights.w1 = normalTensor({c.experts, c.dModel, c.ffn}, gen, 1.0 / std::sqrt(c.dModel));
    d.weights.b1 = normalTensor({c.experts, c.ffn}, gen, 0.5);
    d.weights.w2 = normalTensor({c.experts, c.ffn, c.dModel}, gen, 1.0 / std::sqrt(c.ffn));
    d.weights.b2 = normalTensor({c.experts, c.dModel}, gen, 0.5);
    d.groupedX = normalTensor({c.tokens * c.topK, c.dModel}, gen);
    if (c.dtype != kernels::KernelDtype::Float32) {
      // Values the dtype holds exactly, so that the kernel and the float32 reference start from
      // the same numbers.
      const auto type = atenDtype(c.dtype);
      for (auto* t : {&d.weights.w1, &d.weights.b1, &d.weights.w2, &d.weights.b2, &d.groupedX}) {
        *t = t->to(type).to(at::kFloat);
      }
    }
  }
  return d;
}

// Row of each assignment s * k + j in the sorted order (the inverse of the stable argsort).
inline std::vector<int32_t> rowOfAssignment(const KernelCaseData& d) {
  const auto& dyn = d.dynamic;
  const int64_t n = dyn.tokenOfRow.size(0), k = d.spec.topK;
  std::vector<int32_t> rows(n, -1), nextChoice(d.spec.tokens, 0);
  auto token = dyn.tokenOfRow.accessor<int64_t, 1>();
  // Rows of one token come in increasing j (stable sort of s * k + j within each expert, and
  // experts of one token are distinct), but not necessarily grouped: find j by expert id.
  auto ids = d.gating.expertIds.accessor<int64_t, 2>();
  std::vector<int64_t> offsets(d.spec.experts + 1, 0);
  for (int64_t e = 0; e < d.spec.experts; ++e) {
    offsets[e + 1] = offsets[e] + dyn.tokensPerExpert[e];
  }
  for (int64_t e = 0; e < d.spec.experts; ++e) {
    for (int64_t r = offsets[e]; r < offsets[e + 1]; ++r) {
      const int64_t s = token[r];
      for (int64_t j = 0; j < k; ++j) {
        if (ids[s][j] == e) rows[s * k + j] = static_cast<int32_t>(r);
      }
    }
  }
  return rows;
}

// The CPU's dense static routing in compact form: slot of each assignment (-1 dropped), token
// of each slot (-1 empty), gate of each assignment (0 dropped).
struct CompactStaticRouting {
  std::vector<int32_t> slotOfAssignment;
  std::vector<int32_t> tokenOfSlot;
  std::vector<float> gate;
};

inline CompactStaticRouting compactStaticRouting(const KernelCaseData& d) {
  const auto& c = d.spec;
  CompactStaticRouting out;
  out.slotOfAssignment.assign(c.tokens * c.topK, -1);
  out.tokenOfSlot.assign(c.experts * c.capacity, -1);
  out.gate.assign(c.tokens * c.topK, 0.0f);
  auto mask = d.staticRouting.dispatchMask.accessor<float, 3>();
  auto weights = d.staticRouting.combineWeights.accessor<float, 3>();
  auto ids = d.gating.expertIds.accessor<int64_t, 2>();
  for (int64_t s = 0; s < c.tokens; ++s) {
    for (int64_t j = 0; j < c.topK; ++j) {
      const int64_t e = ids[s][j];
      for (int64_t slot = 0; slot < c.capacity; ++slot) {
        if (mask[s][e][slot] != 0.0f) {
          out.slotOfAssignment[s * c.topK + j] = static_cast<int32_t>(slot);
          out.tokenOfSlot[e * c.capacity + slot] = static_cast<int32_t>(s);
          out.gate[s * c.topK + j] = weights[s][e][slot];
        }
      }
    }
  }
  return out;
}

inline at::Tensor int32Tensor(const std::vector<int32_t>& values) {
  return at::tensor(at::ArrayRef<int32_t>(values), at::TensorOptions().dtype(at::kInt));
}

// Elementwise |got - want| <= absolute + relative * |want|; NaN where want is finite fails.
// Empty when they agree, else where and by how much they first differ.
inline std::string compareClose(const at::Tensor& got, const at::Tensor& want,
                                kernels::Tolerance tolerance) {
  if (got.sizes() != want.sizes()) {
    std::ostringstream text;
    text << "shape " << got.sizes() << " instead of " << want.sizes();
    return text.str();
  }
  if (got.numel() == 0) return "";
  auto g = got.to(at::kDouble).flatten(), w = want.to(at::kDouble).flatten();
  auto error = (g - w).abs();
  auto bad =
      error.gt(w.abs().mul(tolerance.relative).add(tolerance.absolute)) | (g.isnan() & ~w.isnan());
  const int64_t badCount = bad.sum().item<int64_t>();
  if (badCount == 0) return "";
  const int64_t first = bad.nonzero()[0][0].item<int64_t>();
  std::ostringstream text;
  text << badCount << " of " << g.numel() << " elements out of tolerance (abs "
       << tolerance.absolute << ", rel " << tolerance.relative << "); first at flat index " << first
       << ": got " << g[first].item<double>() << ", want " << w[first].item<double>()
       << "; max error " << at::nan_to_num(error, 1e300).max().item<double>();
  return text.str();
}

}  // namespace moeprof::testing
