#include "kernels/expert_ffn.h"

#include <algorithm>
#include <optional>
#include <vector>

#include <ATen/ATen.h>
#include <cblas.h>

namespace moeprof::kernels {

int64_t ExpertWeights::bytes() const {
  int64_t total = 0;
  for (const auto* t : {&w1, &b1, &w2, &b2}) {
    if (t->defined()) total += t->numel() * static_cast<int64_t>(t->element_size());
  }
  return total;
}

at::Tensor expertFfn(const ExpertWeights& weights, int64_t expert, const at::Tensor& x) {
  auto hidden = at::addmm(weights.b1[expert], x, weights.w1[expert]);
  hidden.relu_();
  return at::addmm(weights.b2[expert], hidden, weights.w2[expert]);
}

at::Tensor batchedExpertFfn(const ExpertWeights& weights, const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(0) == weights.numExperts(),
              "batched expert input must be (experts, capacity, d_model)");
  auto hidden = at::baddbmm(weights.b1.unsqueeze(1), x, weights.w1);
  hidden.relu_();
  return at::baddbmm(weights.b2.unsqueeze(1), hidden, weights.w2);
}

namespace {

// One expert's weights as raw float32 pointers, row-major: w1 (d_model, ffn), w2 (ffn, d_model).
struct ExpertPointers {
  const float* w1;
  const float* b1;
  const float* w2;
  const float* b2;
};

bool isPlainCpuFloat(const at::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous();
}

// Whether the CBLAS kernel may run: float32 CPU inference (autograd needs the ATen operators).
bool cpuKernelApplies(const at::Tensor& x, std::initializer_list<const at::Tensor*> weights) {
  bool grad = at::GradMode::is_enabled() && x.requires_grad();
  for (const auto* w : weights) grad = grad || (at::GradMode::is_enabled() && w->requires_grad());
  if (grad || !isPlainCpuFloat(x)) return false;
  for (const auto* w : weights) {
    if (!isPlainCpuFloat(*w)) return false;
  }
  return true;
}

// rows of out = relu(x w1 + b1) w2 + b2, with hidden as scratch of rows x ffn.
void expertRowsCpu(const ExpertPointers& e, const float* x, int64_t rows, int64_t dModel,
                   int64_t ffn, float* hidden, float* out) {
  for (int64_t r = 0; r < rows; ++r) std::copy(e.b1, e.b1 + ffn, hidden + r * ffn);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, ffn, dModel, 1.0f, x, dModel, e.w1,
              ffn, 1.0f, hidden, ffn);
  // relu that keeps NaN, as at::relu does; an unconditional store so that the loop vectorizes
  // (a conditional store stays a branch per element, mispredicted half the time on random signs)
  for (int64_t i = 0; i < rows * ffn; ++i) hidden[i] = hidden[i] < 0.0f ? 0.0f : hidden[i];
  for (int64_t r = 0; r < rows; ++r) std::copy(e.b2, e.b2 + dModel, out + r * dModel);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, dModel, ffn, 1.0f, hidden, ffn, e.w2,
              dModel, 1.0f, out, dModel);
}

// The CPU kernel over all experts with tokens; pointersOf(e) gives expert e's weights.
template <typename PointersOf>
at::Tensor groupedExpertFfnCpu(const PointersOf& pointersOf, const at::Tensor& x, int64_t ffn,
                               const std::vector<int64_t>& counts) {
  const int64_t dModel = x.size(1);
  const int64_t maxCount = counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
  auto out = at::empty({x.size(0), dModel}, x.options());
  auto hidden = at::empty({maxCount, ffn}, x.options());
  const float* in = x.data_ptr<float>();
  int64_t offset = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] == 0) continue;
    expertRowsCpu(pointersOf(static_cast<int64_t>(e)), in + offset * dModel, counts[e], dModel, ffn,
                  hidden.data_ptr<float>(), out.data_ptr<float>() + offset * dModel);
    offset += counts[e];
  }
  return out;
}

void checkCounts(const at::Tensor& x, const std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (int64_t count : counts) total += count;
  TORCH_CHECK(total == x.size(0), "token counts add up to ", total, " but ", x.size(0),
              " rows were given");
}

// The CPU kernel over a provider's views, or nullopt when the first view rules it out (the
// provider hands out views of one kind: resident weights or store slots).
std::optional<at::Tensor> providedExpertsCpu(const ExpertProvider& experts, const at::Tensor& x,
                                             const std::vector<int64_t>& counts) {
  auto first = std::find_if(counts.begin(), counts.end(), [](int64_t c) { return c > 0; });
  if (first == counts.end()) return at::empty({0, x.size(1)}, x.options());
  ExpertView firstView = experts(first - counts.begin());
  if (!cpuKernelApplies(x, {&firstView.w1, &firstView.b1, &firstView.w2, &firstView.b2})) {
    return std::nullopt;
  }
  const int64_t ffn = firstView.w1.size(1);
  auto pointersOf = [&](int64_t e) {
    ExpertView view = e == first - counts.begin() ? firstView : experts(e);
    TORCH_CHECK(isPlainCpuFloat(view.w1) && isPlainCpuFloat(view.b1) && isPlainCpuFloat(view.w2) &&
                    isPlainCpuFloat(view.b2) && view.w1.size(1) == ffn,
                "expert ", e, " is not laid out like the others");
    return ExpertPointers{view.w1.data_ptr<float>(), view.b1.data_ptr<float>(),
                          view.w2.data_ptr<float>(), view.b2.data_ptr<float>()};
  };
  return groupedExpertFfnCpu(pointersOf, x, ffn, counts);
}

bool needsGrad(const at::Tensor& x, const ExpertWeights& w) {
  if (!at::GradMode::is_enabled()) return false;
  for (const auto* t : {&x, &w.w1, &w.b1, &w.w2, &w.b2}) {
    if (t->requires_grad()) return true;
  }
  return false;
}

// Under autograd: the experts with tokens as one padded batch (A, C, d_model), C the largest
// count. Expert by expert, each `w1[e]` view would give backward a zero gradient of the whole
// stacked tensor per expert (E times its size per layer); gathering the active experts once
// costs one.
at::Tensor paddedExpertFfn(const ExpertWeights& weights, const at::Tensor& x,
                           const std::vector<int64_t>& counts) {
  std::vector<int64_t> active, slots;
  int64_t capacity = 0;
  for (int64_t count : counts) capacity = std::max(capacity, count);
  for (size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] == 0) continue;
    const int64_t base = static_cast<int64_t>(active.size()) * capacity;
    for (int64_t j = 0; j < counts[e]; ++j) slots.push_back(base + j);
    active.push_back(static_cast<int64_t>(e));
  }
  if (active.empty()) return at::empty({0, x.size(1)}, x.options());
  auto ids = at::tensor(active, at::kLong).to(x.device());
  auto slotIds = at::tensor(slots, at::kLong).to(x.device());
  const int64_t n = static_cast<int64_t>(active.size()), dModel = x.size(1);
  auto padded = at::zeros({n * capacity, dModel}, x.options()).index_copy(0, slotIds, x);
  auto hidden = at::baddbmm(weights.b1.index_select(0, ids).unsqueeze(1),
                            padded.view({n, capacity, dModel}), weights.w1.index_select(0, ids))
                    .relu();
  auto out = at::baddbmm(weights.b2.index_select(0, ids).unsqueeze(1), hidden,
                         weights.w2.index_select(0, ids));
  return out.view({n * capacity, dModel}).index_select(0, slotIds);
}

}  // namespace

at::Tensor groupedExpertFfnAten(const ExpertProvider& experts, const at::Tensor& x,
                                const std::vector<int64_t>& counts) {
  checkCounts(x, counts);
  std::vector<at::Tensor> pieces;  // concatenated rather than written into: stays differentiable
  int64_t offset = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    int64_t count = counts[e];
    if (count == 0) continue;
    ExpertView expert = experts(static_cast<int64_t>(e));
    auto hidden = at::addmm(expert.b1, x.narrow(0, offset, count), expert.w1);
    hidden.relu_();
    pieces.push_back(at::addmm(expert.b2, hidden, expert.w2));
    offset += count;
  }
  return pieces.empty() ? at::empty({0, x.size(1)}, x.options()) : at::cat(pieces);
}

at::Tensor groupedExpertFfn(const ExpertProvider& experts, const at::Tensor& x,
                            const std::vector<int64_t>& counts) {
  checkCounts(x, counts);
  if (auto out = providedExpertsCpu(experts, x, counts)) return *out;
  return groupedExpertFfnAten(experts, x, counts);
}

at::Tensor groupedExpertFfn(const ExpertWeights& weights, const at::Tensor& x,
                            const std::vector<int64_t>& counts) {
  TORCH_CHECK(static_cast<int64_t>(counts.size()) == weights.numExperts(),
              "one token count per expert expected");
  checkCounts(x, counts);
  if (needsGrad(x, weights)) return paddedExpertFfn(weights, x, counts);
  if (!cpuKernelApplies(x, {&weights.w1, &weights.b1, &weights.w2, &weights.b2})) {
    return groupedExpertFfnAten([&](int64_t e) { return weights.expert(e); }, x, counts);
  }
  return groupedExpertFfnCblas(weights, x, counts);
}

at::Tensor groupedExpertFfnCblas(const ExpertWeights& weights, const at::Tensor& x,
                                 const std::vector<int64_t>& counts) {
  TORCH_CHECK(static_cast<int64_t>(counts.size()) == weights.numExperts(),
              "one token count per expert expected");
  checkCounts(x, counts);
  TORCH_CHECK(cpuKernelApplies(x, {&weights.w1, &weights.b1, &weights.w2, &weights.b2}),
              "the CBLAS expert kernel takes contiguous float32 CPU tensors without autograd");
  const int64_t dModel = weights.w1.size(1), ffn = weights.w1.size(2);
  auto pointersOf = [&](int64_t e) {
    return ExpertPointers{
        weights.w1.data_ptr<float>() + e * dModel * ffn, weights.b1.data_ptr<float>() + e * ffn,
        weights.w2.data_ptr<float>() + e * ffn * dModel, weights.b2.data_ptr<float>() + e * dModel};
  };
  return groupedExpertFfnCpu(pointersOf, x, ffn, counts);
}

}  // namespace moeprof::kernels
