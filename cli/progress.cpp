#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace moeprof::cli {

TerminalProgress::TerminalProgress() : enabled_(isatty(STDERR_FILENO) == 1) {}
TerminalProgress::~TerminalProgress() {
  finish();
}

void TerminalProgress::update(const std::string& status) {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\033[K%s", status.c_str());
  std::fflush(stderr);
  shown_ = true;
}

void TerminalProgress::finish() {
  if (!enabled_ || !shown_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

StepClock::StepClock(size_t steps) : steps_(steps), start_(std::chrono::steady_clock::now()) {}

void StepClock::stepDone() {
  ++done_;
}

std::string StepClock::status() const {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string text = "run " + std::to_string(std::min(done_ + 1, steps_)) + " of " +
                     std::to_string(steps_) + ", " + formatDuration(elapsed) + " elapsed";
  if (done_ == 0) return text;
  const double left = elapsed / static_cast<double>(done_) * static_cast<double>(steps_ - done_);
  return text + ", about " + formatDuration(left) + " left";
}

std::string formatDuration(double seconds) {
  const long total = static_cast<long>(seconds + 0.5);
  auto two = [](long v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  if (total < 60) return std::to_string(total) + "s";
  if (total < 3600) return std::to_string(total / 60) + "m" + two(total % 60) + "s";
  return std::to_string(total / 3600) + "h" + two(total % 3600 / 60) + "m";
}

}  // namespace moeprof::cli
