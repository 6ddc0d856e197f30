#!/usr/bin/env bash
# Everything to build moeprof and run all its tests on a fresh Debian 12 machine:
# installs missing packages, configures, builds in parallel, runs ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
# LibTorch's OpenMP threads (libgomp) spin while they wait unless told otherwise; on cores busy
# with other work that made 2 threads 11x slower than passive waiting (12 training steps: 251 s
# vs 23 s, 2 cores at load 6.6). libgomp reads this once, when it is loaded.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
scripts/setup.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)"
ctest --preset default -j "$(nproc)"
