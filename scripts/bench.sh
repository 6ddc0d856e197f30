#!/usr/bin/env bash
# Runs every Google Benchmark target of moeprof on a release build and writes each one's results
# as Google Benchmark JSON (plus its console table) under a directory.
#   scripts/bench.sh [--out DIR] [--smoke] [--only TARGET[,TARGET...]] [-- BENCHMARK FLAGS...]
# --out DIR   where the results go (default runs/bench/<UTC date and time>)
# --smoke     one iteration per benchmark (what CI runs through ctest, label bench)
# --only      a comma-separated subset of the targets listed in docs/benchmarks.md
# Flags after -- go to every binary, e.g. -- --benchmark_repetitions=5
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

targets=(moeprof_bench moeprof_kernels_bench moeprof_store_bench moeprof_export_bench
         moeprof_cache_bench moeprof_safetensors_bench moeprof_routing_stats_bench
         moeprof_report_bench)
out="runs/bench/$(date -u +%Y%m%dT%H%M%SZ)"
only=""
extra=()
while (($#)); do
  case "$1" in
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --smoke) export MOEPROF_BENCH_SMOKE=1; extra+=(--benchmark_min_time=0.01); shift ;;
    --only) only="${2:?--only needs target names}"; shift 2 ;;
    --) shift; extra+=("$@"); break ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (allowed: --out DIR, --smoke, --only T,..., -- FLAGS)" >&2
       exit 2 ;;
  esac
done
if [[ -n "$only" ]]; then
  IFS=, read -r -a chosen <<< "$only"
  for t in "${chosen[@]}"; do
    [[ " ${targets[*]} " == *" $t "* ]] || {
      echo "bench.sh: --only '$t' is not a benchmark target (allowed: ${targets[*]})" >&2; exit 2; }
  done
  targets=("${chosen[@]}")
fi

scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target "${targets[@]}"
mkdir -p "$out"
failed=()
for t in "${targets[@]}"; do
  echo "== $t" >&2
  if ! "build/release/tests/bench/$t" --benchmark_out="$out/$t.json" --benchmark_out_format=json \
       "${extra[@]}" | tee "$out/$t.txt"; then
    failed+=("$t")
  fi
done
echo "bench.sh: results in $out (one .json and .txt per target)" >&2
if ((${#failed[@]})); then
  echo "bench.sh: failed: ${failed[*]}" >&2
  exit 1
fi
