#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs missing packages, builds moeprof in
# release mode, and reproduces the paper's gating characterization on the embedded CPU presets
# (static vs dynamic gating on LM and MT, and the dense counterparts), ending in the table.
# Extra arguments go to `moeprof reproduce` (e.g. --out DIR, --repeats N, --force).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)" --target moeprof
exec build/release/cli/moeprof reproduce "$@"
