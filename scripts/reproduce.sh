#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs missing packages, builds moeprof in
# release mode, and reproduces the paper's gating characterization on the embedded CPU presets
# (static vs dynamic gating on LM and MT, and the dense counterparts), ending in the table.
# Extra arguments go to `moeprof reproduce` (e.g. --out DIR, --repeats N, --force).
set -euo pipefail
cd "$(dirname "$0")/.."
# LibTorch's OpenMP threads (libgomp) spin while they wait unless told otherwise; on cores busy
# with other work that made 2 threads 11x slower than passive waiting (12 training steps: 251 s
# vs 23 s, 2 cores at load 6.6). libgomp reads this once, when it is loaded.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
scripts/setup.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)" --target moeprof
exec build/release/cli/moeprof reproduce "$@"
