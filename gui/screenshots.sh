#!/usr/bin/env bash
# Screenshots of every dashboard view, made by `moeprof-gui --screenshot` in a real X11 window on
# a virtual display (Xvfb; Debian: xvfb xauth), or offscreen with --offscreen.
#   gui/screenshots.sh [--offscreen] OUT_DIR PATH...
# PATH: what the views show (e.g. a reproduce directory and a run recorded with --trace full).
set -euo pipefail
platform=xcb
if [[ ${1:-} == --offscreen ]]; then platform=offscreen; shift; fi
if (($# < 2)); then
  echo "usage: $0 [--offscreen] OUT_DIR PATH..." >&2
  exit 2
fi
out=$1; shift
gui=${MOEPROF_GUI:-build/default/gui/app/moeprof-gui}
mkdir -p "$out"
shoot() {
  for view in overview heatmap cache placement timeline compare; do
    QT_QPA_PLATFORM=$platform "$gui" --screenshot "$view" --out "$out/gui-$view.png" "$@"
    echo "wrote $out/gui-$view.png"
  done
}
if [[ $platform == xcb && -z ${MOEPROF_UNDER_XVFB:-} ]]; then
  # Again, inside a virtual X server.
  MOEPROF_UNDER_XVFB=1 exec xvfb-run -a -s "-screen 0 1600x1000x24" "$0" "$out" "$@"
fi
shoot "$@"
