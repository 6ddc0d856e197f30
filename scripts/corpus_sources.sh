#!/usr/bin/env bash
# Makes a root of Debian packages for `moeprof corpus --root`: downloads the packages listed in
# scripts/corpus_packages.txt (apt-get download: Debian's mirrors only, no root needed for the
# download itself) and extracts them with dpkg-deb -x, so the corpus does not depend on what
# this machine happens to have installed, nor on dpkg excludes (Debian images drop
# /usr/share/man and /usr/share/locale). Writes ROOT/PACKAGES ("name version" lines), which the
# corpus manifest records. The same package versions give a byte-identical corpus.
#
#   scripts/corpus_sources.sh [ROOT]     default: ${MOEPROF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moeprof}/corpus-root
#   build/default/cli/moeprof corpus --root ROOT
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${MOEPROF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/moeprof}
root=${1:-$cache/corpus-root}
debs=$cache/corpus-debs
mapfile -t packages < <(grep -v '^\s*#' "$here/corpus_packages.txt" | awk 'NF {print $1}')

mkdir -p "$debs"
echo "corpus_sources: downloading ${#packages[@]} packages into $debs"
(cd "$debs" && apt-get download -q "${packages[@]}")

rm -rf "$root.tmp"
mkdir -p "$root.tmp"
: > "$root.tmp/PACKAGES"
for p in "${packages[@]}"; do
  # Newest download of each package (apt-get download names files NAME_VERSION_ARCH.deb).
  deb=$(ls -1 "$debs/${p}"_*.deb | sort -V | tail -n 1)
  dpkg-deb -x "$deb" "$root.tmp"
  echo "$p $(dpkg-deb -f "$deb" Version)" >> "$root.tmp/PACKAGES"
done
rm -rf "$root"
mv "$root.tmp" "$root"
echo "corpus_sources: extracted into $root; now: moeprof corpus --root $root"
