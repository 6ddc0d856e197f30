#include "kernels/attention.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
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

// Row loops work on fixed groups of this many floats: a loop with a constant trip count is one
// the compiler vectorizes even at -O2 (GCC's "very cheap" cost model), with baseline SSE2/NEON.
constexpr int64_t kLanes = 8;

// Arguments of expInRange are clamped to at least this: below it exp is under FLT_MIN, so
// exp(-87) (1.6e-38) is as far from the true value as a denormal would be.
constexpr float kExpMin = -87.0f;

// exp(x) for x in [kExpMin, 0] (a score minus its row's maximum), branch-free so that a loop of
// it vectorizes: x = n ln2 + r with |r| <= ln2/2, exp(r) by a polynomial (the Cephes
// single-precision coefficients, within about 1 ulp), 2^n built in the exponent bits. The
// clamp is the caller's: GCC 12 does not vectorize a loop where it precedes the arithmetic.
inline float expInRange(float x) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float shifted = x * 1.44269504088896341f + kRound;
  const float n = shifted - kRound;
  float r = x - n * 0.693359375f;  // ln 2 in two parts, the first exact in float
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t exponent = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kRound);
  return p * std::bit_cast<float>((exponent + 127) << 23);
}

float rowMax(const float* row, int64_t count) {
  float lanes[kLanes];
  std::fill(lanes, lanes + kLanes, -std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + kLanes <= count; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] = row[j + l] > lanes[l] ? row[j + l] : lanes[l];
  }
  float max = *std::max_element(lanes, lanes + kLanes);
  for (; j < count; ++j) max = std::max(max, row[j]);
  return max;
}

// row[j] = exp(row[j] - max) for the first `count`; returns their sum.
float expAndSum(float* row, int64_t count, float max) {
  float lanes[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= count; j += kLanes) {
    float clamped[kLanes];
    for (int64_t l = 0; l < kLanes; ++l) clamped[l] = std::max(row[j + l] - max, kExpMin);
    for (int64_t l = 0; l < kLanes; ++l) {
      const float e = expInRange(clamped[l]);
      row[j + l] = e;
      lanes[l] += e;
    }
  }
  float sum = 0.0f;
  for (int64_t l = 0; l < kLanes; ++l) sum += lanes[l];
  for (; j < count; ++j) {
    row[j] = expInRange(std::max(row[j] - max, kExpMin));
    sum += row[j];
  }
  return sum;
}

// Unnormalized softmax of a row of `width` scores, of which the first `visible` count and the
// rest become 0: returns 1 / sum, applied to the (much shorter) output row instead.
float softmaxRow(float* row, int64_t width, int64_t visible) {
  std::fill(row + visible, row + width, 0.0f);
  if (visible == 0) return 0.0f;
  return 1.0f / expAndSum(row, visible, rowMax(row, visible));
}

// Shapes of one call; every pointer addresses element (b, t, 0) of a (B, rows, d) tensor.
struct AttentionShape {
  int64_t queries, keys, dModel, headDim;
  bool causal;
  int64_t tileQueries;  // queries per score tile
};

// Causal attention is computed one tile of queries at a time, each against the keys its last
// query sees, so the fully masked blocks above the diagonal are never computed: at 256 queries
// and tiles of 32, 56% of the full score matrix is computed. Smaller tiles skip more but make
// more (and smaller) GEMM calls, each of which packs its operands again.
constexpr int64_t kCausalTileQueries = 32;

// One (batch, head): out[:, h] = softmax(q_h k_h^T / sqrt(dh)) v_h, tile by tile of queries,
// with `scores` (tileQueries * keys floats) and `rowScale` (tileQueries) as scratch.
void attendOneHead(const AttentionShape& s, const float* q, const float* k, const float* v,
                   float* scores, float* rowScale, float* out) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.headDim));
  const int64_t past = s.keys - s.queries;  // keys before the first query's own position
  for (int64_t first = 0; first < s.queries; first += s.tileQueries) {
    const int64_t rows = std::min(s.tileQueries, s.queries - first);
    const int64_t width = s.causal ? std::clamp<int64_t>(past + first + rows, 0, s.keys) : s.keys;
    float* outTile = out + first * s.dModel;
    if (width == 0) {  // no query of the tile sees a key (only with more queries than keys)
      for (int64_t i = 0; i < rows; ++i) std::fill_n(outTile + i * s.dModel, s.headDim, 0.0f);
      continue;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, width, s.headDim, scale,
                q + first * s.dModel, s.dModel, k, s.dModel, 0.0f, scores, width);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t visible =
          s.causal ? std::clamp<int64_t>(past + first + i + 1, 0, width) : width;
      rowScale[i] = softmaxRow(scores + i * width, width, visible);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, s.headDim, width, 1.0f, scores,
                width, v, s.dModel, 0.0f, outTile, s.dModel);
    for (int64_t i = 0; i < rows; ++i) {
      float* row = outTile + i * s.dModel;
      for (int64_t c = 0; c < s.headDim; ++c) row[c] *= rowScale[i];
    }
  }
}

at::Tensor attentionCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                        int64_t heads, bool causal) {
  const int64_t batch = q.size(0), dModel = q.size(2), queries = q.size(1);
  // Without a mask every query sees every key: one tile, two GEMMs per head.
  const int64_t tile = causal ? std::min(queries, kCausalTileQueries) : queries;
  const AttentionShape shape{queries, k.size(1), dModel, dModel / heads, causal, tile};
  auto out = at::empty_like(q);
  // Scratch per thread (scores of one tile, then its row scales), from LibTorch's allocator so
  // that the memory measurement sees it.
  const int64_t perThread = tile * shape.keys + tile;
  auto scratch = at::empty({at::get_num_threads(), perThread}, q.options());
  const float* qData = q.data_ptr<float>();
  const float* kData = k.data_ptr<float>();
  const float* vData = v.data_ptr<float>();
  float* outData = out.data_ptr<float>();
  // Each (batch, head) pair writes its own columns of out: deterministic in any schedule.
  at::parallel_for(0, batch * heads, 1, [&](int64_t begin, int64_t end) {
    float* scores = scratch.data_ptr<float>() + at::get_thread_num() * perThread;
    float* rowScale = scores + tile * shape.keys;
    for (int64_t pair = begin; pair < end; ++pair) {
      const int64_t b = pair / heads, column = (pair % heads) * shape.headDim;
      attendOneHead(shape, qData + b * shape.queries * dModel + column,
                    kData + b * shape.keys * dModel + column,
                    vData + b * shape.keys * dModel + column, scores, rowScale,
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
