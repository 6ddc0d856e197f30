#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: installs missing packages, builds moeprof in
# release mode, and reproduces the paper's gating characterization on the embedded CPU presets
# (static vs dynamic gating on LM and MT, and the dense counterparts), ending in the table, from a
# corpus of pinned Debian packages.
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
# The corpus from the pinned package list (scripts/corpus_packages.txt, downloaded from Debian's
# mirrors and extracted, about 40 s), not from whatever this machine has installed: the same
# package versions give a byte-identical corpus, and so the same tokenizers and, given the same
# CPU kind and threads, the same trained models (docs/reports.md, "Provenance").
# MOEPROF_CORPUS_ROOT=/ reads the machine's own files instead.
cache=${MOEPROF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moeprof}
root=${MOEPROF_CORPUS_ROOT:-$cache/corpus-root}
if [[ $root != / && ! -f $root/PACKAGES ]] && ! scripts/corpus_sources.sh "$root"; then
  echo "reproduce.sh: the pinned packages could not be downloaded; building the corpus from" \
    "this machine's files (/) instead, which another machine may not reproduce" >&2
  root=/
fi
build/release/cli/moeprof corpus --root "$root"  # returns at once when already built from it
exec build/release/cli/moeprof reproduce "$@"
