#!/usr/bin/env bash
# The collector's overhead: `moeprof run --trace full` against `--trace off` on lm-cpu (dynamic
# gating), runs interleaved so that drifts of a shared machine hit both alike. Prints the median
# forward latency of each level over all its runs and the ratio. The issue's target: full at
# most 3% slower than off.
#   scripts/trace_overhead.sh [RUNS=5] [REPEATS=5]   (MOEPROF=path/to/moeprof, default the release
#   build, which scripts/reproduce.sh
#   builds one; python3 reads the run.json files)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
repeats=${2:-5}
moeprof=${MOEPROF:-build/release/cli/moeprof}
[[ -x $moeprof ]] || { echo "build $moeprof first (cmake --preset release && cmake --build build/release)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((i = 0; i < runs; ++i)); do
  for level in off ops full; do
    "$moeprof" run --preset lm-cpu --gating dynamic --trace "$level" --repeats "$repeats" \
      --warmup 1 --out "$out/$level-$i" >/dev/null
  done
done
python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def medians(level):
    return [json.load(open(f"{out}/{level}-{i}/run.json"))["metrics"]["forward"]["latency_ms"]["median"]
            for i in range(runs)]
def events(level):
    return json.load(open(f"{out}/{level}-0/run.json"))["metrics"].get("trace_events", 0)
off = statistics.median(medians("off"))
print(f"{'trace':<6} {'median forward ms':>18} {'vs off':>8} {'events/run':>11}")
for level in ("off", "ops", "full"):
    m = statistics.median(medians(level))
    print(f"{level:<6} {m:>18.1f} {100 * (m / off - 1):>+7.1f}% {events(level):>11}")
PY
