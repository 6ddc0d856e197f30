#pragma once
// Stopping a run cleanly when it is asked to stop (Ctrl-C, `kill`, a dying launcher): SIGINT,
// SIGTERM and SIGHUP only record the request, and the run stops at its next safe point (between
// batches), closes its trace and routing log, and marks run.json "interrupted" with the reason.
#include <chrono>
#include <stdexcept>
#include <string>

namespace moeprof::collector {

// Thrown at a safe point once a stop was requested. The run's files are closed on the way out
// and run.json says "interrupted" with what() as the reason; front ends exit with exitCode()
// (128 + the signal: 130 for SIGINT, 143 for SIGTERM, as a shell reports a killed command).
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, const std::string& reason)
      : std::runtime_error(reason), signal_(signal) {}
  int signal() const { return signal_; }
  int exitCode() const { return 128 + signal_; }

 private:
  int signal_;
};

// Turns SIGINT, SIGTERM and SIGHUP into a stop request for its lifetime: the first such signal
// is recorded (stopSignal()). With `escalate`, a second one gets the default action, so a run
// that does not reach a safe point can still be ended at once; without, further signals are
// only counted (stopRequestCount()), for processes that get each signal twice (the ranks of a
// launcher that forwards what the terminal sent them too) or decide themselves (a launcher).
// With a grace period, the first signal also starts an alarm that ends the process (SIGALRM)
// when it has not exited by then: a rank blocked in a collective whose peers are gone still
// ends. Restores the previous handlers when destroyed. At most one exists at a time (the
// handlers are process-wide).
class StopSignals {
 public:
  explicit StopSignals(bool escalate = true, std::chrono::seconds grace = std::chrono::seconds(0));
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
};

// The signal that asked this process to stop, 0 when none did.
int stopSignal();
// How many stop signals arrived.
int stopRequestCount();

// Forgets a stop request (tests; a launcher once it has passed the request on).
void clearStopRequest();

// "SIGINT", "SIGTERM", "SIGHUP", or "signal N".
std::string signalName(int signal);

// Throws Interrupted when a stop was requested; `where` says what it cut short, e.g. "before
// measured batch 3 of 10", and goes into the reason.
void throwIfStopRequested(const std::string& where);

// The reason run.json records for a stop by `signal` at `where`.
std::string interruptionReason(int signal, const std::string& where);

}  // namespace moeprof::collector
