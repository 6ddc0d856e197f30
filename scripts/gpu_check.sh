#!/usr/bin/env bash
# The device check of moeprof's GPU parts: ONE short script for a session lent an H100/H200.
# It configures a build against the machine's PyTorch LibTorch, builds the GPU tests and moeprof,
# runs the MoE CUDA kernel cases (tests/gpu/kernel_cases_gpu_test.cpp, step test-kernels), the
# other tests labelled gpu, and one unbuffered and one buffered `--device cuda` run of lm-cpu,
# and writes every log and run.json under $OUT (summary.txt first). It was written on a machine
# without a GPU and has not been run yet.
#
# What the GPU machine has: PyTorch with LibTorch (python3 -c 'import torch'), nvcc (CUDA
# toolkit with CUPTI), CMake, ninja, a C++20 compiler. What it lacks (no Debian packages, no
# internet) has to be carried, fetched on the build machine beforehand:
#   scripts/gpu_fetch_deps.sh                 # apt-get download + dpkg -x into build/gpu-deps
# then carry it: run(carry=["build/gpu-deps"], command="scripts/gpu_check.sh", timeout_s=540).
# build/gpu-deps/root holds (Debian 12, about 20 MB): nlohmann-json3-dev, libcli11-dev,
# libsqlite3-dev + libsqlite3-0, zlib1g-dev, libsentencepiece-dev + libsentencepiece0 +
# libprotobuf-lite32, libblas-dev + libblas3 (cblas.h, CBLAS), libgloo-dev (headers, used only
# when LibTorch ships none), libgtest-dev + libgmock-dev, pkgconf + pkgconf-bin + libpkgconf3.
# Never carry .deb files in git. Risks only a GPU session can settle: Debian 12's libraries on
# the GPU machine's distribution (glibc, libstdc++ versions), Debian's gloo headers against
# LibTorch's, and whether moeprof compiles against LibTorch 2.x at all (it is developed on 1.13).
#
# Environment: OUT (default ./gpu-check-out), MOEPROF_GPU_DEPS (default build/gpu-deps/root),
# MOEPROF_GPU_BUILD (default build/gpu), CUDA_ARCH (default 90).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check-out}"
deps="$(realpath -m "${MOEPROF_GPU_DEPS:-build/gpu-deps/root}")"
build="${MOEPROF_GPU_BUILD:-build/gpu}"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
# step NAME SECONDS COMMAND...: runs it with a time limit, its output in $OUT/NAME.log.
step() {
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  note "$name: rc=$rc in $((SECONDS - start)) s (log: $name.log)"
  return $rc
}

[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH="/usr/local/cuda/bin:$PATH"
note "gpu_check: $(date -u +%FT%TZ) on $(hostname), git $(git rev-parse --short HEAD 2>/dev/null)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$OUT/nvidia-smi.txt" 2>&1
nvcc --version >>"$OUT/nvidia-smi.txt" 2>&1
torch_cmake=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)') || {
  note "no PyTorch: python3 -c 'import torch' failed"
  exit 1
}
python3 -c 'import torch;print("torch", torch.__version__, "cuda", torch.version.cuda,
"available", torch.cuda.is_available())' | tee -a "$summary"
torch_root=$(dirname "$(dirname "$torch_cmake")")  # .../site-packages/torch
if [[ ! -d "$deps/usr/include" ]]; then
  note "missing $deps: run scripts/gpu_fetch_deps.sh on the build machine and carry build/gpu-deps"
  exit 1
fi

# The carried prefix in place of the missing Debian packages.
multiarch=$(cat "$deps/../MULTIARCH")
lib="$deps/usr/lib/$multiarch"
for libz in "/lib/$multiarch/libz.so.1" "/usr/lib/$multiarch/libz.so.1" /usr/lib64/libz.so.1; do
  if [[ -e $libz ]]; then ln -sf "$libz" "$lib/libz.so" && break; fi  # the .deb's link is absolute
done
export LD_LIBRARY_PATH="$lib:$lib/blas:$torch_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cat >"$deps/pkg-config" <<EOF
#!/bin/sh
PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$deps" LD_LIBRARY_PATH="$lib" exec "$deps/usr/bin/pkgconf" "\$@"
EOF
chmod +x "$deps/pkg-config"
export MOEPROF_CACHE_DIR="${MOEPROF_CACHE_DIR:-/tmp/moeprof-gpu-cache}"  # expert files
export OMP_WAIT_POLICY=PASSIVE

# LibTorch's prefix first: its own headers (gloo) win over the carried ones.
step configure 240 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_root;$torch_cmake;$deps/usr" \
  -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" \
  -DMOEPROF_BUILD_GUI=OFF \
  -DPKG_CONFIG_EXECUTABLE="$deps/pkg-config" || {
  tail -30 "$OUT/configure.log" >>"$summary"
  exit 1
}
grep -E "^-- moeprof:" "$OUT/configure.log" >>"$summary"

# The tier tests first: they need neither LibTorch nor the rest, so they run even if moeprof
# does not build against this LibTorch.
jobs=$(nproc)
step build-tier 240 cmake --build "$build" -j "$jobs" --target moeprof_tier_gpu_tests
step test-tier 120 "$build/tests/gpu/moeprof_tier_gpu_tests"
tail -3 "$OUT/test-tier.log" >>"$summary"
# The MoE CUDA kernels on every case of kernels/kernel_cases.h against the CPU kernels: needs
# LibTorch only for moeprof_kernels (a few files), so it too runs before the whole build.
step build-kernels 240 cmake --build "$build" -j "$jobs" --target moeprof_kernel_gpu_tests
# MOEPROF_KERNEL_TIMING=1: each case's launch is also timed (median of 20, "[ TIMING   ]" lines).
step test-kernels 180 env MOEPROF_KERNEL_TIMING=1 "$build/tests/gpu/moeprof_kernel_gpu_tests" \
  --gtest_output="xml:$OUT/test-kernels.xml"
grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[ TIMING" "$OUT/test-kernels.log" >>"$summary"
run_tests=(moeprof moeprof_gpu_tests)
[[ -f "$build/tests/gpu/CTestTestfile.cmake" ]] &&
  grep -q moeprof_cuda_run_gpu_tests "$build/build.ninja" && run_tests+=(moeprof_cuda_run_gpu_tests)
built=0
if step build 420 cmake --build "$build" -j "$jobs" --target "${run_tests[@]}"; then
  built=1
elif grep -qi "gloo" "$OUT/build.log"; then
  # Debian's Gloo headers against this LibTorch's bundled Gloo: build without expert parallelism
  # (--ranks) so that the GPU tier and CUPTI paths can still be checked.
  tail -20 "$OUT/build.log" >>"$summary"
  step configure-nogloo 120 cmake "$build" -DMOEPROF_WITH_GLOO=OFF &&
    step build-nogloo 420 cmake --build "$build" -j "$jobs" --target "${run_tests[@]}" && built=1
fi
if ((built)); then
  # the kernel cases ran above (test-kernels)
  step ctest-gpu 300 ctest --test-dir "$build" -L gpu -LE gpu_kernels --output-on-failure \
    --timeout 240
  grep -E "tests passed|tests failed|Skipped|Failed|Not Run" "$OUT/ctest-gpu.log" >>"$summary"
  # One buffered run on a model worth measuring, against the same run unbuffered.
  moeprof="$build/cli/moeprof"
  common=(run --preset lm-cpu --gating dynamic --device cuda --warmup 1 --repeats 3 --force)
  step run-unbuffered 240 "$moeprof" "${common[@]}" --out "$OUT/runs/unbuffered"
  step run-buffered 240 "$moeprof" "${common[@]}" --buffering lifo --prefetch pregate \
    --out "$OUT/runs/buffered"
  python3 - "$OUT/runs" >>"$summary" 2>&1 <<'EOF'
import json, sys
runs = {}
for name in ("unbuffered", "buffered"):
    try:
        runs[name] = json.load(open(f"{sys.argv[1]}/{name}/run.json"))["metrics"]
    except Exception as e:
        print(f"{name}: no run.json ({e})")
if len(runs) == 2:
    same = runs["unbuffered"]["output_digest"] == runs["buffered"]["output_digest"]
    print("output digests equal:", same)
    b = runs["buffered"].get("buffering", {})
    keys = ("slow_tier", "miss_rate", "stall_ms", "transfer_ms", "achieved_bandwidth_gbps",
            "tier_peak_bandwidth_gbps", "tier_peak_by_depth_gbps", "tier_peak_spread",
            "tier_large_read_bandwidth_gbps", "bandwidth_efficiency",
            "bandwidth_efficiency_at_offered_depth", "mean_reads_in_flight",
            "prefetch_precision", "static_memory_reduction")
    print(json.dumps({k: b.get(k) for k in keys}, indent=1))
    for name, m in runs.items():
        print(name, "forward", json.dumps(m.get("forward", {}).get("latency_ms", m.get("forward"))))
EOF
else
  tail -40 "$OUT/build.log" >>"$summary"
fi
note "gpu_check: done"
