#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <cblas.h>

namespace moeprof::kernels {
namespace {

// (B, T, d) -> (B, H, T, d/H)
at::Tensor splitHeads(const at::Tensor& x, int64_t heads) {
  return x.view({x.size(0), x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
}

bool cpuKernelApplies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  for (const auto* t : {&q, &k, &v}) {
    if (!t->device().is_cpu() || t->scalar_type() != at::kFloat || !t->is_contiguous() ||
        t->dim() != 3) {
      return false;
    }
    if (at::GradMode::is_enabled() && t->requires_grad()) return false;
  }
  return true;
}

// Softmax of `keys` scores in place; only the first `visible` count, the rest become 0.
void softmaxRow(float* row, int64_t keys, int64_t visible) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < visible; ++j) max = std::max(max, row[j]);
  float sum = 0.0f;
  for (int64_t j = 0; j < visible; ++j) {
    row[j] = std::exp(row[j] - max);
    sum += row[j];
  }
  const float scale = 1.0f / sum;
  for (int64_t j = 0; j < visible; ++j) row[j] *= scale;
  std::fill(row + visible, row + keys, 0.0f);
}

// Shapes of one call; every pointer addresses element (b, t, 0) of a (B, rows, d) tensor.
struct AttentionShape {
  int64_t queries, keys, dModel, headDim;
  bool causal;
};

// One (batch, head): out[:, h] = softmax(q_h k_h^T / sqrt(dh)) v_h, scores as scratch.
void attendOneHead(const AttentionShape& s, const float* q, const float* k, const float* v,
                   float* scores, float* out) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.headDim));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.queries, s.keys, s.headDim, scale, q,
              s.dModel, k, s.dModel, 0.0f, scores, s.keys);
  const int64_t past = s.keys - s.queries;
  for (int64_t i = 0; i < s.queries; ++i) {
    softmaxRow(scores + i * s.keys, s.keys, s.causal ? std::min(s.keys, past + i + 1) : s.keys);
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.queries, s.headDim, s.keys, 1.0f, scores,
              s.keys, v, s.dModel, 0.0f, out, s.dModel);
}

at::Tensor attentionCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                        int64_t heads, bool causal) {
  const int64_t batch = q.size(0), dModel = q.size(2);
  const AttentionShape shape{q.size(1), k.size(1), dModel, dModel / heads, causal};
  auto out = at::empty_like(q);
  // Scores scratch per thread, from LibTorch's allocator so that the memory measurement sees it.
  auto scratch = at::empty({at::get_num_threads(), shape.queries * shape.keys}, q.options());
  const float* qData = q.data_ptr<float>();
  const float* kData = k.data_ptr<float>();
  const float* vData = v.data_ptr<float>();
  float* outData = out.data_ptr<float>();
  // Each (batch, head) pair writes its own columns of out: deterministic in any schedule.
  at::parallel_for(0, batch * heads, 1, [&](int64_t begin, int64_t end) {
    float* scores = scratch.data_ptr<float>() + at::get_thread_num() * shape.queries * shape.keys;
    for (int64_t pair = begin; pair < end; ++pair) {
      const int64_t b = pair / heads, column = (pair % heads) * shape.headDim;
      attendOneHead(shape, qData + b * shape.queries * dModel + column,
                    kData + b * shape.keys * dModel + column,
                    vData + b * shape.keys * dModel + column, scores,
                    outData + b * shape.queries * dModel + column);
    }
  });
  return out;
}

}  // namespace

at::Tensor attentionAten(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         int64_t heads, bool causal) {
  const int64_t queries = q.size(1), keys = k.size(1);
  auto qh = splitHeads(q, heads), kh = splitHeads(k, heads), vh = splitHeads(v, heads);
  auto scores = at::matmul(qh, kh.transpose(-2, -1)).mul_(1.0 / std::sqrt(qh.size(-1)));
  if (causal && queries > 1) {
    int64_t past = keys - queries;
    auto future = at::ones({queries, keys}, q.options().dtype(at::kBool)).triu(past + 1);
    scores.masked_fill_(future, -std::numeric_limits<float>::infinity());
  }
  auto context = at::matmul(at::softmax(scores, -1), vh);
  return context.transpose(1, 2).reshape({q.size(0), queries, q.size(2)});
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads,
                     bool causal) {
  TORCH_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3 && q.size(2) % heads == 0 &&
                  k.sizes() == v.sizes() && k.size(0) == q.size(0) && k.size(2) == q.size(2),
              "attention expects q (B, T, d) and k, v (B, S, d) with d divisible by the heads");
  if (cpuKernelApplies(q, k, v)) return attentionCpu(q, k, v, heads, causal);
  return attentionAten(q, k, v, heads, causal);
}

}  // namespace moeprof::kernels
