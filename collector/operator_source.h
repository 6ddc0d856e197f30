#pragma once
// Records every LibTorch operator (RecordFunction callbacks, the hook Kineto uses) into a trace:
// name, thread, start and end, nesting depth, autograd sequence number, and a correlation id per
// call for GPU kernels to point at. Active while the object lives; one at a time per process,
// because LibTorch's callbacks carry no user pointer.
#include <cstdint>
#include <memory>

namespace moeprof::collector {

class TraceSink;

class OperatorSource {
 public:
  explicit OperatorSource(TraceSink& sink);
  ~OperatorSource();
  OperatorSource(const OperatorSource&) = delete;
  OperatorSource& operator=(const OperatorSource&) = delete;

 private:
  uint64_t handle_;
};

}  // namespace moeprof::collector
