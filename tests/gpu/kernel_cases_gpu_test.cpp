// The GPU side of the kernel case list (kernels/kernel_cases.h): every case through the CUDA
// kernels of kernels/cuda/, against the CPU kernels (ATen/CBLAS) on the same fresh random
// inputs, with the case's tolerance. Every output buffer is poisoned before the launch (float,
// bf16, fp16: all bits set, a NaN; int32: 0x7f7f7f7f), so an element a kernel leaves unwritten
// fails the comparison. Skips with the reason where there is no CUDA device or driver. Label
// gpu; scripts/gpu_check.sh runs it as its own step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include <cuda_runtime_api.h>

#include "kernels/cuda/dynamic_dispatch.cuh"
#include "kernels/cuda/gating.cuh"
#include "kernels/cuda/grouped_ffn.cuh"
#include "kernels/cuda/static_dispatch.cuh"
#include "tests/gpu/cuda_device.h"
#include "tests/support/kernel_case_data.h"

namespace moeprof {
namespace {

using kernels::KernelCase;
using kernels::KernelPrimitive;
using testing::compareClose;

// Device memory of n elements, poisoned at allocation.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(int64_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&ptr_), bytes() > 0 ? bytes() : 1), cudaSuccess);
    EXPECT_EQ(cudaMemset(ptr_, std::is_same_v<T, int32_t> ? 0x7f : 0xff, bytes()), cudaSuccess);
  }
  DeviceBuffer(const T* host, int64_t n) : DeviceBuffer(n) {
    EXPECT_EQ(cudaMemcpy(ptr_, host, bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  size_t bytes() const { return static_cast<size_t>(n_) * sizeof(T); }
  std::vector<T> host() const {
    std::vector<T> out(n_);
    EXPECT_EQ(cudaMemcpy(out.data(), ptr_, bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }

 private:
  T* ptr_ = nullptr;
  int64_t n_;
};

DeviceBuffer<float> upload(const at::Tensor& t) {
  auto c = t.to(at::kFloat).contiguous();
  return DeviceBuffer<float>(c.data_ptr<float>(), c.numel());
}

DeviceBuffer<int32_t> uploadIds(const at::Tensor& t) {
  auto c = t.to(at::kInt).contiguous();
  return DeviceBuffer<int32_t>(c.data_ptr<int32_t>(), c.numel());
}

at::Tensor floats(const std::vector<float>& v, at::IntArrayRef shape) {
  return at::tensor(at::ArrayRef<float>(v)).view(shape).clone();
}

at::Tensor ints(const std::vector<int32_t>& v) {
  return testing::int32Tensor(v).to(at::kLong);
}

// With MOEPROF_KERNEL_TIMING=1 (scripts/gpu_check.sh sets it) each case's launch is also timed:
// 3 warm-up launches, then the median of 20 timed with CUDA events, printed and recorded as a
// test property (kernel_ms), so that the case list serves speed as well as correctness.
void timeIfAsked(const KernelCase& c, const std::function<cudaError_t()>& launch) {
  const char* asked = std::getenv("MOEPROF_KERNEL_TIMING");
  if (!asked || std::strcmp(asked, "1") != 0) return;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(launch(), cudaSuccess);
  cudaEvent_t start, stop;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  std::vector<float> ms;
  for (int i = 0; i < 20; ++i) {
    cudaEventRecord(start);
    ASSERT_EQ(launch(), cudaSuccess);
    cudaEventRecord(stop);
    ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
    float elapsed = 0;
    cudaEventElapsedTime(&elapsed, start, stop);
    ms.push_back(elapsed);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  std::printf("[ TIMING   ] %s: %.4f ms (median of 20)\n", c.name().c_str(), median);
  ::testing::Test::RecordProperty("kernel_ms", std::to_string(median));
}

// Device memory holding t converted to T (float, bf16 or fp16: the same bits as ATen's).
template <typename T>
DeviceBuffer<T> uploadAs(const at::Tensor& t) {
  const auto type = std::is_same_v<T, float>           ? at::kFloat
                    : std::is_same_v<T, __nv_bfloat16> ? at::kBFloat16
                                                       : at::kHalf;
  auto c = t.to(type).contiguous();
  return DeviceBuffer<T>(static_cast<const T*>(c.data_ptr()), c.numel());
}

template <typename T>
at::Tensor downloadAsFloat(const DeviceBuffer<T>& buffer, at::IntArrayRef shape) {
  const auto type = std::is_same_v<T, float>           ? at::kFloat
                    : std::is_same_v<T, __nv_bfloat16> ? at::kBFloat16
                                                       : at::kHalf;
  auto out = at::empty(shape, at::TensorOptions().dtype(type));
  EXPECT_EQ(cudaMemcpy(out.data_ptr(), buffer.get(), buffer.bytes(), cudaMemcpyDeviceToHost),
            cudaSuccess);
  return out.to(at::kFloat);
}

// The grouped FFN in T against the ATen loop in float32 on the same (T-representable) values.
template <typename T>
void groupedFfnCase(const testing::KernelCaseData& d) {
  const auto& c = d.spec;
  const int64_t E = c.experts, n = c.tokens * c.topK, dModel = c.dModel;
  const auto& counts = d.dynamic.tokensPerExpert;
  std::vector<int32_t> offsetsHost(E + 1, 0);
  for (int64_t e = 0; e < E; ++e) {
    offsetsHost[e + 1] = offsetsHost[e] + static_cast<int32_t>(counts[e]);
  }
  auto w1 = uploadAs<T>(d.weights.w1), b1 = uploadAs<T>(d.weights.b1),
       w2 = uploadAs<T>(d.weights.w2), b2 = uploadAs<T>(d.weights.b2), x = uploadAs<T>(d.groupedX);
  DeviceBuffer<int32_t> offsets(offsetsHost.data(), E + 1),
      workspace(kernels::cuda::groupedExpertFfnWorkspace(E));
  DeviceBuffer<T> hidden(n * c.ffn), out(n * dModel);
  kernels::cuda::ExpertWeightsDeviceOf<T> weights{w1.get(), b1.get(), w2.get(), b2.get()};
  auto launch = [&] {
    return kernels::cuda::launchGroupedExpertFfn<T>(weights, x.get(), offsets.get(), n, E, dModel,
                                                    c.ffn, hidden.get(), out.get(), workspace.get(),
                                                    nullptr);
  };
  ASSERT_EQ(launch(), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto want = kernels::groupedExpertFfnAten([&](int64_t e) { return d.weights.expert(e); },
                                            d.groupedX, counts);
  EXPECT_EQ(compareClose(downloadAsFloat(out, {n, dModel}), want, kernels::toleranceFor(c.dtype)),
            "");
  timeIfAsked(c, launch);
}

class KernelCaseGpu : public ::testing::TestWithParam<KernelCase> {
 protected:
  void SetUp() override {
    if (std::string reason = testing::noCudaDeviceReason(); !reason.empty()) {
      GTEST_SKIP() << reason;
    }
  }
  void sync() { ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess); }
};

TEST_P(KernelCaseGpu, MatchesTheCpuKernels) {
  const KernelCase& c = GetParam();
  const auto tol = kernels::toleranceFor(c.dtype);
  auto d = testing::makeKernelCaseData(c, 4321);
  const int64_t S = c.tokens, E = c.experts, k = c.topK, dModel = c.dModel, n = S * k;
  const int topK = static_cast<int>(k);
  cudaStream_t stream = nullptr;
  switch (c.primitive) {
    case KernelPrimitive::TopKGating: {
      auto logits = upload(d.logits);
      DeviceBuffer<float> probs(S * E), weights(n);
      DeviceBuffer<int32_t> ids(n);
      auto launch = [&] {
        return kernels::cuda::launchTopKGating(logits.get(), S, E, topK, probs.get(), ids.get(),
                                               weights.get(), stream);
      };
      ASSERT_EQ(launch(), cudaSuccess);
      sync();
      auto gotProbs = floats(probs.host(), {S, E});
      EXPECT_EQ(compareClose(gotProbs, d.gating.probs, tol), "") << "probs";
      auto gotIds = ints(ids.host()).view({S, k});
      ASSERT_TRUE((gotIds.ge(0) & gotIds.lt(E)).all().item<bool>()) << "expert ids out of range";
      // Equal probabilities may come in either order (at::topk promises none).
      auto same =
          gotIds.eq(d.gating.expertIds) | d.gating.probs.gather(1, gotIds)
                                              .sub(d.gating.probs.gather(1, d.gating.expertIds))
                                              .abs()
                                              .le(tol.absolute);
      EXPECT_TRUE(same.all().item<bool>()) << "expert ids differ beyond ties";
      EXPECT_EQ(compareClose(floats(weights.host(), {S, k}), d.gating.gateWeights, tol), "")
          << "gate weights";
      timeIfAsked(c, launch);
      break;
    }
    case KernelPrimitive::DynamicRouting: {
      auto ids = uploadIds(d.gating.expertIds);
      auto gates = upload(d.gating.gateWeights);
      DeviceBuffer<int32_t> counts(E), offsets(E + 1), tokenOfRow(n), rowOf(n),
          workspace(kernels::cuda::dynamicRoutingWorkspace(S, topK, E));
      DeviceBuffer<float> weightOfRow(n);
      kernels::cuda::DynamicRoutingDevice out{counts.get(), offsets.get(), tokenOfRow.get(),
                                              weightOfRow.get(), rowOf.get()};
      auto launch = [&] {
        return kernels::cuda::launchDynamicRouting(ids.get(), gates.get(), S, topK, E, out,
                                                   workspace.get(), stream);
      };
      ASSERT_EQ(launch(), cudaSuccess);
      sync();
      EXPECT_TRUE(at::equal(ints(counts.host()), at::tensor(d.dynamic.tokensPerExpert, at::kLong)));
      auto wantOffsets = at::zeros({E + 1}, at::kLong);
      wantOffsets.narrow(0, 1, E).copy_(at::tensor(d.dynamic.tokensPerExpert, at::kLong).cumsum(0));
      EXPECT_TRUE(at::equal(ints(offsets.host()), wantOffsets));
      EXPECT_TRUE(at::equal(ints(tokenOfRow.host()), d.dynamic.tokenOfRow)) << "row order";
      EXPECT_EQ(compareClose(floats(weightOfRow.host(), {n}), d.dynamic.weightOfRow, {0, 0}), "");
      EXPECT_TRUE(at::equal(ints(rowOf.host()), ints(testing::rowOfAssignment(d))));
      timeIfAsked(c, launch);
      break;
    }
    case KernelPrimitive::DynamicDispatch: {
      auto x = upload(d.x);
      auto rows = uploadIds(d.dynamic.tokenOfRow);
      DeviceBuffer<float> out(n * dModel);
      auto launch = [&] {
        return kernels::cuda::launchDynamicDispatch(x.get(), rows.get(), n, dModel, out.get(),
                                                    stream);
      };
      ASSERT_EQ(launch(), cudaSuccess);
      sync();
      EXPECT_EQ(compareClose(floats(out.host(), {n, dModel}),
                             kernels::dynamicDispatch(d.dynamic, d.x), {0, 0}),
                "");
      timeIfAsked(c, launch);
      break;
    }
    case KernelPrimitive::DynamicCombine: {
      auto expertOut = upload(d.expertOut);
      auto rowOfHost = testing::rowOfAssignment(d);
      DeviceBuffer<int32_t> rowOf(rowOfHost.data(), n);
      auto gates = upload(d.gating.gateWeights);
      DeviceBuffer<float> out(S * dModel);
      auto launch = [&] {
        return kernels::cuda::launchDynamicCombine(expertOut.get(), rowOf.get(), gates.get(), S,
                                                   topK, dModel, out.get(), stream);
      };
      ASSERT_EQ(launch(), cudaSuccess);
      sync();
      EXPECT_EQ(compareClose(floats(out.host(), {S, dModel}),
                             kernels::dynamicCombine(d.dynamic, d.expertOut, S), tol),
                "");
      timeIfAsked(c, launch);
      break;
    }
    case KernelPrimitive::StaticRouting: {
      auto probs = upload(d.gating.probs);
      auto ids = uploadIds(d.gating.expertIds);
      DeviceBuffer<int32_t> slotOf(n), tokenOfSlot(E * c.capacity), dropped(2),
          workspace(kernels::cuda::staticRoutingWorkspace(S, topK, E));
      DeviceBuffer<float> gate(n);
      kernels::cuda::StaticRoutingDevice out{slotOf.get(), tokenOfSlot.get(), gate.get(),
                                             dropped.get()};
      auto launch = [&] {
        return kernels::cuda::launchStaticRouting(probs.get(), ids.get(), S, E, topK, c.capacity,
                                                  c.batchPrioritized, out, workspace.get(), stream);
      };
      ASSERT_EQ(launch(), cudaSuccess);
      sync();
      auto want = testing::compactStaticRouting(d);
      EXPECT_EQ(slotOf.host(), want.slotOfAssignment) << "slots";
      EXPECT_EQ(tokenOfSlot.host(), want.tokenOfSlot) << "tokens of slots";
      EXPECT_EQ(compareClose(floats(gate.host(), {n}), at::tensor(want.gate), tol), "") << "gates";
      auto drops = dropped.host();
      EXPECT_EQ(drops[0], d.staticRouting.droppedAssignments);
      EXPECT_EQ(drops[1], d.staticRouting.droppedTokens);
      timeIfAsked(c, launch);
      break;
    }
    case KernelPrimitive::StaticDispatch: {
      auto x = upload(d.x);
      auto compact = testing::compactStaticRouting(d);
      DeviceBuffer<int32_t> tokenOfSlot(compact.tokenOfSlot.data(), E * c.capacity);
      DeviceBuffer<float> out(E * c.capacity * dModel);
      auto launch = [&] {
        return kernels::cuda::launchStaticDispatch(x.get(), tokenOfSlot.get(), E, c.capacity,
                                                   dModel, out.get(), stream);
      };
      ASSERT_EQ(launch(), cudaSuccess);
      sync();
      EXPECT_EQ(compareClose(floats(out.host(), {E, c.capacity, dModel}),
                             kernels::staticDispatch(d.staticRouting, d.x), {0, 0}),
                "");
      timeIfAsked(c, launch);
      break;
    }
    case KernelPrimitive::StaticCombine: {
      auto expertOut = upload(d.expertOut);
      auto ids = uploadIds(d.gating.expertIds);
      auto compact = testing::compactStaticRouting(d);
      DeviceBuffer<int32_t> slotOf(compact.slotOfAssignment.data(), n);
      DeviceBuffer<float> gate(compact.gate.data(), n), out(S * dModel);
      auto launch = [&] {
        return kernels::cuda::launchStaticCombine(expertOut.get(), ids.get(), slotOf.get(),
                                                  gate.get(), S, topK, c.capacity, dModel,
                                                  out.get(), stream);
      };
      ASSERT_EQ(launch(), cudaSuccess);
      sync();
      EXPECT_EQ(compareClose(floats(out.host(), {S, dModel}),
                             kernels::staticCombine(d.staticRouting, d.expertOut), tol),
                "");
      timeIfAsked(c, launch);
      break;
    }
    case KernelPrimitive::GroupedFfn: {
      if (c.dtype == kernels::KernelDtype::BFloat16) {
        groupedFfnCase<__nv_bfloat16>(d);
      } else if (c.dtype == kernels::KernelDtype::Float16) {
        groupedFfnCase<__half>(d);
      } else {
        groupedFfnCase<float>(d);
      }
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, KernelCaseGpu, ::testing::ValuesIn(kernels::kernelCases()),
                         [](const ::testing::TestParamInfo<KernelCase>& info) {
                           return info.param.name();
                         });

}  // namespace
}  // namespace moeprof
