#pragma once
// One status line for long work, rewritten in place on a terminal; silent when stderr is not
// a terminal (logs and CI stay clean).
#include <chrono>
#include <cstddef>
#include <string>

namespace moeprof::cli {

class TerminalProgress {
 public:
  TerminalProgress();
  ~TerminalProgress();
  void update(const std::string& status);
  void finish();  // clears the line

 private:
  bool enabled_;
  bool shown_ = false;
};

// Elapsed time and the time left of work done in a known number of steps, estimated from the
// mean time of the steps done so far: "run 3 of 14, 1m05s elapsed, about 4m20s left".
class StepClock {
 public:
  explicit StepClock(size_t steps);
  void stepDone();
  std::string status() const;

 private:
  size_t steps_;
  size_t done_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// "45s", "3m05s", "1h02m".
std::string formatDuration(double seconds);

}  // namespace moeprof::cli
