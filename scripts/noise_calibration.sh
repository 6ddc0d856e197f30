#!/usr/bin/env bash
# Noise calibration of `moeprof compare` on this machine (docs/comparisons.md):
#   A/A: the same configuration measured twice, interleaved; any `regressed` is a false alarm.
#   A/B: B with a 20% slowdown of dynamic gating's experts phase (the test-only switch
#        MOEPROF_TEST_SLOWDOWN); detected when forward.phase_ms.experts comes out `regressed`.
# Runs A, A', B interleaved, PAIRS times, at the shipped thresholds (THRESHOLDS=FILE: others),
# and prints the rates. KEEP=1 keeps the runs.
#
#   scripts/noise_calibration.sh [PAIRS] [RUN OPTIONS...]
#   scripts/noise_calibration.sh 20 --preset lm-tiny --batch 8 --seq-len 32 --repeats 20
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
B="${MOEPROF:-build/default/cli/moeprof}"
PAIRS="${1:-20}"
shift || true
if [[ $# -eq 0 ]]; then
  set -- --preset lm-tiny --batch 8 --seq-len 32 --repeats 20 --threads 1
fi
SLOWDOWN="${SLOWDOWN:-experts:0.2}"
PHASE_METRIC="forward.phase_ms.${SLOWDOWN%%:*}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/moeprof-calibration.XXXXXX")"
# KEEP=1 keeps the runs and comparisons for a closer look.
if [[ -z "${KEEP:-}" ]]; then trap 'rm -rf "$WORK"' EXIT; else echo "runs in $WORK"; fi

run() {  # run NAME [ENV...]
  local name="$1"
  shift
  env "$@" "$B" run --gating dynamic "${RUN_OPTIONS[@]}" --out "$WORK/$name" > /dev/null
}

# verdict JSON METRIC -> that metric's verdict
verdict() {
  python3 -c 'import json,sys
c = json.load(open(sys.argv[1]))
print(next((m["verdict"] for m in c["metrics"] if m["key"] == sys.argv[2]), "absent"))' "$1" "$2"
}

RUN_OPTIONS=("$@")
COMPARE_OPTIONS=()  # THRESHOLDS=FILE: judge with another thresholds file
[[ -n "${THRESHOLDS:-}" ]] && COMPARE_OPTIONS=(--thresholds "$THRESHOLDS")
aa_alarms=0 aa_metric_alarms=0 aa_metrics=0 aa_unknown=0 detected=0 ab_exit3=0
start=$SECONDS
for ((i = 1; i <= PAIRS; i++)); do
  run "a$i"
  run "b$i"
  run "s$i" MOEPROF_TEST_SLOWDOWN="$SLOWDOWN"
  set +e
  "$B" compare --json "${COMPARE_OPTIONS[@]}" "$WORK/a$i" "$WORK/b$i" > "$WORK/aa$i.json"
  aa=$?
  "$B" compare --json "${COMPARE_OPTIONS[@]}" "$WORK/a$i" "$WORK/s$i" > "$WORK/ab$i.json"
  ab=$?
  set -e
  [[ $aa -eq 3 ]] && aa_alarms=$((aa_alarms + 1))
  [[ $ab -eq 3 ]] && ab_exit3=$((ab_exit3 + 1))
  read -r regressed timed unknown < <(python3 -c 'import json,sys
c = json.load(open(sys.argv[1]))
t = [m for m in c["metrics"] if m["kind"] == "timed"]
print(sum(m["verdict"] == "regressed" for m in t), len(t), sum(m["verdict"] == "unknown" for m in t))' \
    "$WORK/aa$i.json")
  aa_metric_alarms=$((aa_metric_alarms + regressed))
  aa_metrics=$((aa_metrics + timed))
  aa_unknown=$((aa_unknown + unknown))
  v="$(verdict "$WORK/ab$i.json" "$PHASE_METRIC")"
  [[ "$v" == regressed ]] && detected=$((detected + 1))
  echo "pair $i: A/A exit $aa ($regressed of $timed timed metrics regressed, $unknown unknown);" \
    "A/B exit $ab, $PHASE_METRIC $v"
done
echo
echo "configuration: run --gating dynamic ${RUN_OPTIONS[*]}; slowdown $SLOWDOWN; $PAIRS pairs," \
  "$((SECONDS - start)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A/A false alarms (exit 3): $aa_alarms of $PAIRS pairs;" \
  "$aa_metric_alarms of $aa_metrics timed metrics regressed, $aa_unknown unknown"
echo "A/B detection ($PHASE_METRIC regressed): $detected of $PAIRS pairs; exit 3: $ab_exit3 of $PAIRS"
