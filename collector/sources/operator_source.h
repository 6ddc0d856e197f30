#pragma once
// Records every LibTorch operator (RecordFunction callbacks, the hook Kineto uses) into a trace:
// name, thread, start and end, nesting depth, autograd sequence number, and a correlation id per
// call for GPU kernels to point at. Active while the object lives; one at a time per process,
// because LibTorch's callbacks carry no user pointer.
#include <cstdint>
#include <memory>

namespace moeprof::collector {

class TraceSink;

// Told each operator's correlation id as it starts and ends, on the operator's thread, so that
// a GPU source can tag the work the operator launches (CuptiSource pushes it to CUPTI).
class OperatorObserver {
 public:
  virtual ~OperatorObserver() = default;
  virtual void operatorStarted(uint64_t correlationId) = 0;
  virtual void operatorEnded(uint64_t correlationId) = 0;
};

class OperatorSource {
 public:
  // `observer`, when given, must outlive this source.
  explicit OperatorSource(TraceSink& sink, OperatorObserver* observer = nullptr);
  ~OperatorSource();
  OperatorSource(const OperatorSource&) = delete;
  OperatorSource& operator=(const OperatorSource&) = delete;

 private:
  uint64_t handle_;
};

}  // namespace moeprof::collector
