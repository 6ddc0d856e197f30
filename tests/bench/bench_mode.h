#pragma once
// Smoke mode for the benchmarks: with MOEPROF_BENCH_SMOKE=1 (how ctest runs them, label bench)
// every benchmark runs one iteration, so that CI notices a benchmark that crashes or reports an
// error without paying for a measurement. scripts/bench.sh measures with the timings below.
#include <cstdlib>
#include <cstring>

#include <benchmark/benchmark.h>

namespace moeprof::bench {

inline bool smokeMode() {
  const char* value = std::getenv("MOEPROF_BENCH_SMOKE");
  return value && *value && std::strcmp(value, "0") != 0;
}

// Runs `benchmark` for at least `seconds`, or once in smoke mode.
inline benchmark::internal::Benchmark* minTimeOrOnce(benchmark::internal::Benchmark* benchmark,
                                                     double seconds) {
  return smokeMode() ? benchmark->Iterations(1) : benchmark->MinTime(seconds);
}

// Runs `benchmark` `iterations` times, or once in smoke mode.
inline benchmark::internal::Benchmark* iterationsOrOnce(benchmark::internal::Benchmark* benchmark,
                                                        benchmark::IterationCount iterations) {
  return benchmark->Iterations(smokeMode() ? 1 : iterations);
}

}  // namespace moeprof::bench

// For BENCHMARK(...) chains: ->MOEPROF_MIN_TIME(2.0) and ->MOEPROF_ITERATIONS(1 << 20).
#define MOEPROF_MIN_TIME(seconds) \
  Apply([](benchmark::internal::Benchmark* b) { moeprof::bench::minTimeOrOnce(b, seconds); })
#define MOEPROF_ITERATIONS(count) \
  Apply([](benchmark::internal::Benchmark* b) { moeprof::bench::iterationsOrOnce(b, count); })
