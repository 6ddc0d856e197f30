#!/usr/bin/env bash
# Everything to build moeprof and run all its tests on a fresh Debian 12 machine:
# installs missing packages, configures, builds in parallel, runs ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)"
ctest --preset default -j "$(nproc)"
