#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

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

}  // namespace moeprof::cli
