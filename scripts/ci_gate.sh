#!/usr/bin/env bash
# The CI performance gate (docs/comparisons.md, "The CI gate"): runs `moeprof reproduce --quick`
# and judges it against the committed baseline reports/baselines/quick.json with what survives a
# change of machine (exact metrics, routing counts, ratios measured side by side in one run).
# Prints the Markdown summary (also into $GITHUB_STEP_SUMMARY when set), writes the HTML report
# beside the runs, and exits 3 on a regression.
#
#   scripts/ci_gate.sh [--out DIR]            gate (default DIR: runs/gate)
#   scripts/ci_gate.sh --refresh [--out DIR]  rewrite the baseline from a fresh run; review its diff
#
# Uses build/default (scripts/test.sh builds it); builds the moeprof target when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
BASELINE=reports/baselines/quick.json
OUT=runs/gate
REFRESH=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --refresh) REFRESH=1 ;;
    --out) OUT="${2:?--out needs a directory}"; shift ;;
    *) echo "ci_gate.sh: unknown argument '$1' (allowed: --refresh, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done
B=build/default/cli/moeprof
if [[ ! -x "$B" ]]; then
  cmake --preset default > /dev/null
  cmake --build --preset default -j "$(nproc)" --target moeprof
fi

mkdir -p "$(dirname "$OUT")"
start=$SECONDS
"$B" reproduce --quick --force --out "$OUT" > "$OUT.log" 2>&1 || { cat "$OUT.log"; exit 1; }
echo "reproduce --quick: $((SECONDS - start)) s (log: $OUT.log)"

if [[ $REFRESH -eq 1 ]]; then
  "$B" baseline "$OUT" --out "$BASELINE"
  git --no-pager diff --stat -- "$BASELINE" || true
  exit 0
fi

set +e
"$B" compare --markdown "$BASELINE" "$OUT" > "$OUT/gate.md"
verdict=$?
set -e
cat "$OUT/gate.md"
[[ -n "${GITHUB_STEP_SUMMARY:-}" ]] && cat "$OUT/gate.md" >> "$GITHUB_STEP_SUMMARY"
# The HTML report of the same runs, opened by the same verdicts (a CI artifact).
set +e
"$B" report "$OUT" --baseline "$BASELINE" --out "$OUT/report" > /dev/null
report=$?
set -e
if [[ $report -ne 0 && $report -ne 3 ]]; then
  echo "ci_gate.sh: moeprof report failed (exit $report)" >&2
  exit 1
fi
echo "html report: $OUT/report/report.html"
exit "$verdict"
