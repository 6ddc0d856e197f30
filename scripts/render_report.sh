#!/usr/bin/env bash
# Renders a report.html (or any page or SVG chart moeprof writes) to PNG in headless Chromium,
# as a reader's browser shows it: to look at a report before calling it done, or for the README.
#
#   scripts/render_report.sh REPORT.html OUT.png [WIDTH] [HEIGHT]    (default 1300 x 4000)
#
# Needs Debian's chromium (scripts/setup.sh does not install it: apt-get install chromium).
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: scripts/render_report.sh REPORT.html OUT.png [WIDTH] [HEIGHT]" >&2
  exit 2
fi
page="$(realpath "$1")"
out="$(realpath -m "$2")"
width="${3:-1300}"
height="${4:-4000}"
[[ -f "$page" ]] || { echo "render_report.sh: '$1' does not exist" >&2; exit 2; }
command -v chromium > /dev/null || { echo "render_report.sh: chromium is missing (apt-get install chromium)" >&2; exit 1; }
timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="$width,$height" --screenshot="$out" "file://$page" 2> /dev/null
[[ -s "$out" ]] || { echo "render_report.sh: chromium wrote no picture" >&2; exit 1; }
echo "$out"
