#!/usr/bin/env bash
# Regenerates tests/fixtures/routing: the routing logs (and run.json) of the trained default
# models on real text, so tests and benchmarks replay real routing without training. LM: each
# domain, 2 batches of 8 x 128 tokens; MT: each target language, 2 batches of 48 sentences with
# the decoder fed the references (--decode reference). Trains the models first when missing
# (`moeprof train --pregates`, a few minutes on 2 cores). Usage: scripts/make_routing_fixture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# LibTorch's OpenMP threads (libgomp) spin while they wait unless told otherwise; on cores busy
# with other work that made 2 threads 11x slower than passive waiting (12 training steps: 251 s
# vs 23 s, 2 cores at load 6.6). libgomp reads this once, when it is loaded.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
B=build/default/cli/moeprof
out=tests/fixtures/routing
models="${MOEPROF_CACHE_DIR:-$HOME/.cache/moeprof}/models"
for workload in lm mt; do
  "$B" train --workload "$workload" --pregates
done
common=(--gating dynamic --repeats 2 --warmup 0 --threads 1 --force)
for domain in prose code license; do
  "$B" run --checkpoint "$models/lm-default" --batch 8 --domain "$domain" "${common[@]}" \
    --out "$out/lm-$domain"
done
for lang in fr ja ast; do
  "$B" run --checkpoint "$models/mt-default" --batch 48 --lang "$lang" --decode reference \
    "${common[@]}" --out "$out/mt-$lang"
done
# The committed run.json files name the cache as $MOEPROF_CACHE_DIR, not this machine's path,
# and no host name.
for run in "$out"/*/run.json; do
  sed -i -e "s|$models|\$MOEPROF_CACHE_DIR/models|g" -e 's|"hostname": "[^"]*"|"hostname": ""|' "$run"
done
du -sh "$out"
