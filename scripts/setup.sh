#!/usr/bin/env bash
# Installs the Debian packages moeprof needs to build and test, when they are missing.
# As root it runs apt-get itself; otherwise it prints the exact command to run.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libopenblas0-openmp libblas-dev libgloo-dev
  nlohmann-json3-dev libcli11-dev libsqlite3-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-dev  # the libFuzzer target (tests/fuzz), built with clang++ beside GCC
  libsentencepiece-dev
  sentencepiece  # spm_train and spm_encode: tests load models that moeprof did not write
  qt6-base-dev qt6-svg-dev libgl1-mesa-dev  # moeprof-gui (optional: without them it is not built)
  xvfb xauth  # scripts/gui_screenshots.sh runs the dashboard in a real window on a virtual X server
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run as root:  apt-get update && ${cmd[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
"${cmd[@]}"
