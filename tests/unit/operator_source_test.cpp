// The operator source: every LibTorch operator of every thread reaches the sink once, nested,
// with a unique correlation id, including the batches still held by threads when it stops.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "collector/sources/operator_source.h"
#include "collector/trace_sink.h"

namespace moeprof {
namespace {

using collector::OperatorEvent;

TEST(OperatorSourceTest, RecordsEveryOperatorOfEveryThreadNested) {
  collector::TraceBuffer buffer;
  auto x = at::ones({8, 8});
  constexpr int kSelects = 1500;  // more than one hand-over batch per thread
  {
    collector::OperatorSource source(buffer);
    auto work = [&] {
      for (int i = 0; i < kSelects; ++i) (void)x.select(0, i % 8);
    };
    std::thread other(work);
    work();
    other.join();
    (void)at::mm(x, x);
  }
  (void)x.select(0, 1);  // after the source stopped: not recorded
  auto operators = buffer.trace().operators;

  int selects = 0;
  std::set<uint64_t> threads, ids;
  for (const OperatorEvent& op : operators) {
    if (op.name == "aten::select") {
      ++selects;
      EXPECT_EQ(op.depth, 0);
    }
    if (op.name == "aten::as_strided") {
      EXPECT_GE(op.depth, 1) << "select calls as_strided";
    }
    EXPECT_LE(op.startNs, op.endNs);
    threads.insert(op.threadId);
    EXPECT_TRUE(ids.insert(op.correlationId).second) << "correlation ids are unique";
  }
  EXPECT_EQ(selects, 2 * kSelects);
  EXPECT_EQ(threads.size(), 2u);
  EXPECT_EQ(std::count_if(operators.begin(), operators.end(),
                          [](const OperatorEvent& op) { return op.name == "aten::mm"; }),
            1);
}

TEST(OperatorSourceTest, OneSourceAtATime) {
  collector::TraceBuffer buffer;
  collector::OperatorSource source(buffer);
  EXPECT_THROW(collector::OperatorSource second(buffer), std::logic_error);
}

}  // namespace
}  // namespace moeprof
