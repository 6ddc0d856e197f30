#pragma once
// One status line for long work, rewritten in place on a terminal; silent when stderr is not
// a terminal (logs and CI stay clean).
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

}  // namespace moeprof::cli
