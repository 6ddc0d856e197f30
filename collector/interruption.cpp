#include "collector/interruption.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>

namespace moeprof::collector {

namespace {

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// Process-wide because signal handlers are: the one piece of global state a signal forces.
volatile std::sig_atomic_t gStopSignal = 0;
volatile std::sig_atomic_t gStopCount = 0;
volatile std::sig_atomic_t gGraceSeconds = 0;
volatile std::sig_atomic_t gEscalate = 1;
bool gInstalled = false;
struct sigaction gPrevious[3];

void onStopSignal(int signal) {
  gStopCount = gStopCount + 1;
  if (gStopSignal != 0) {
    if (gEscalate) {  // the second request: stop now, the default way
      ::signal(signal, SIG_DFL);
      ::raise(signal);
    }
    return;
  }
  gStopSignal = signal;
  if (gGraceSeconds > 0) ::alarm(static_cast<unsigned>(gGraceSeconds));
}

}  // namespace

StopSignals::StopSignals(bool escalate, std::chrono::seconds grace) {
  if (gInstalled) throw std::logic_error("StopSignals: handlers are already installed");
  gGraceSeconds = static_cast<std::sig_atomic_t>(grace.count());
  gEscalate = escalate ? 1 : 0;
  struct sigaction action {};
  action.sa_handler = onStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // LibTorch, Gloo and SQLite need not see EINTR
  for (size_t i = 0; i < std::size(kStopSignals); ++i) {
    sigaction(kStopSignals[i], &action, &gPrevious[i]);
  }
  gInstalled = true;
}

StopSignals::~StopSignals() {
  for (size_t i = 0; i < std::size(kStopSignals); ++i) {
    sigaction(kStopSignals[i], &gPrevious[i], nullptr);
  }
  gInstalled = false;
}

int stopSignal() {
  return gStopSignal;
}

int stopRequestCount() {
  return gStopCount;
}

void clearStopRequest() {
  gStopSignal = 0;
  gStopCount = 0;
}

std::string signalName(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "signal " + std::to_string(signal);
  }
}

std::string interruptionReason(int signal, const std::string& where) {
  return signalName(signal) + " received; stopped " + where;
}

void throwIfStopRequested(const std::string& where) {
  if (int signal = stopSignal(); signal != 0) {
    throw Interrupted(signal, interruptionReason(signal, where));
  }
}

}  // namespace moeprof::collector
