// The CUPTI source where no GPU is needed: it says truthfully whether it can trace here, fails
// to start cleanly where it cannot, and the operator source hands it each operator's id.
// tests/gpu/ has the tests that trace a real GPU.
#include "collector/sources/cupti_source.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "collector/sources/operator_source.h"
#include "collector/trace_sink.h"
#include "kernels/device_query.h"

namespace moeprof::collector {
namespace {

bool startsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

TEST(CuptiSource, ReportsWhetherItCanTraceHere) {
  auto cuda = kernels::queryCudaDevices();
  auto cupti = CuptiSource::availability();
#if MOEPROF_HAVE_CUPTI
  if (!cuda.devices.empty()) {
    EXPECT_TRUE(cupti.available) << cupti.reason;
    EXPECT_EQ(cupti.reason, "");
    return;
  }
  EXPECT_FALSE(cupti.available);
  EXPECT_TRUE(startsWith(cupti.reason, "unavailable: no CUDA device")) << cupti.reason;
  EXPECT_NE(cupti.reason.find(cuda.reason), std::string::npos)
      << "'" << cupti.reason << "' should carry the CUDA runtime's reason '" << cuda.reason << "'";
#else
  EXPECT_FALSE(cupti.available);
  EXPECT_EQ(cupti.reason, "unavailable: built without CUPTI");
#endif
}

TEST(CuptiSource, StartWhereUnavailableThrowsTheReasonAndLeavesNothingBehind) {
  if (CuptiSource::availability().available) GTEST_SKIP() << "CUPTI can trace on this machine";
  TraceBuffer sink;
  CuptiSource source;
  for (int attempt = 0; attempt < 2; ++attempt) {  // a failed start must not block the next one
    SCOPED_TRACE(attempt);
    try {
      source.start(sink);
      FAIL() << "start() succeeded without a usable GPU";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), CuptiSource::availability().reason);
    }
    EXPECT_FALSE(source.running());
    EXPECT_FALSE(source.capturesNvtx());
  }
  source.pushExternalCorrelation(5);  // no-ops while not running
  source.popExternalCorrelation();
  source.stop();
  Trace trace = sink.trace();
  EXPECT_TRUE(trace.meta.empty());
  EXPECT_TRUE(trace.sources.empty());
}

// Records what an OperatorSource tells its observer, per thread in the order told.
class RecordingObserver final : public OperatorObserver {
 public:
  void operatorStarted(uint64_t correlationId) override { calls.push_back({true, correlationId}); }
  void operatorEnded(uint64_t correlationId) override { calls.push_back({false, correlationId}); }

  struct Call {
    bool start;
    uint64_t correlationId;
  };
  std::vector<Call> calls;
};

TEST(CuptiOperatorObserver, SeesEveryOperatorStartAndEndNested) {
  at::Tensor a = at::ones({4, 4});
  TraceBuffer sink;
  RecordingObserver observer;
  {
    OperatorSource operators(sink, &observer);
    at::Tensor b = at::matmul(a, a).relu();
    (void)b.sum().item<float>();
  }
  (void)at::add(a, 1);  // after the source is gone: not observed

  Trace trace = sink.trace();
  ASSERT_FALSE(trace.operators.empty());
  std::set<uint64_t> recorded;
  for (const auto& op : trace.operators) recorded.insert(op.correlationId);
  std::vector<uint64_t> open;
  std::set<uint64_t> started;
  for (const auto& call : observer.calls) {
    if (call.start) {
      open.push_back(call.correlationId);
      started.insert(call.correlationId);
    } else {
      ASSERT_FALSE(open.empty()) << "end of " << call.correlationId << " without a start";
      EXPECT_EQ(open.back(), call.correlationId) << "ends must come innermost first";
      open.pop_back();
    }
  }
  EXPECT_TRUE(open.empty());
  EXPECT_EQ(started, recorded) << "the observer and the trace must see the same operators";
}

}  // namespace
}  // namespace moeprof::collector
