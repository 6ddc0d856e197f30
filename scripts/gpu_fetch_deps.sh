#!/usr/bin/env bash
# Fetches, on a Debian 12 build machine, the Debian packages that scripts/gpu_check.sh needs on a
# GPU machine that has PyTorch (LibTorch), nvcc, CMake and ninja but no Debian packages and no
# internet, and unpacks them into one prefix to carry there (about 20 MB unpacked):
#   scripts/gpu_fetch_deps.sh [DIR]       # default build/gpu-deps; the prefix is DIR/root
# Uses apt-get download (no root needed for the download itself, no install) and dpkg -x. The
# .deb files are deleted afterwards; nothing here goes into git (build/ is ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-build/gpu-deps}"

# Headers, CMake/pkg-config files and the shared libraries they point at. LibTorch, CUDA and
# CUPTI come from the GPU machine itself.
packages=(
  nlohmann-json3-dev libcli11-dev
  libsqlite3-dev libsqlite3-0 zlib1g-dev
  libsentencepiece-dev libsentencepiece0 libprotobuf-lite32
  libblas-dev libblas3  # cblas.h and the CBLAS the grouped expert FFN calls
  libgloo-dev           # headers c10d's ProcessGroupGloo includes, if LibTorch ships none
  libgtest-dev libgmock-dev
  pkgconf pkgconf-bin libpkgconf3  # finds SentencePiece
)

rm -rf "$dest"
mkdir -p "$dest/debs" "$dest/root"
(cd "$dest/debs" && apt-get download "${packages[@]}")
for deb in "$dest"/debs/*.deb; do dpkg -x "$deb" "$dest/root"; done
rm -rf "$dest/debs"

# What Debian's alternatives system would have linked on installation.
# The packages are this machine's architecture (the GPU machine's must match); gpu_check.sh reads
# the multiarch name from DIR/MULTIARCH.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
echo "$multiarch" >"$dest/MULTIARCH"
lib="$dest/root/usr/lib/$multiarch"
ln -sf cblas-netlib.h "$dest/root/usr/include/$multiarch/cblas.h"
ln -sf blas/libblas.so.3 "$lib/libblas.so.3"
ln -sf blas/libblas.so "$lib/libblas.so"
printf '%s\n' "${packages[@]}" >"$dest/PACKAGES"
echo "gpu_fetch_deps: $(du -sh "$dest" | cut -f1) in $dest (carry it: run's carry [\"$dest\"])"
