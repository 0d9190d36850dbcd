#!/usr/bin/env bash
# Every figure of the race section of docs/benchmarks.md, in one command (run it on a quiet machine):
#   bash bench/peers/race_all.sh [OUT_DIR]
# Builds the race programs in build-bench/, creates the peers' environment (tools/setup-peers.sh), then runs
#  1. bench_race_xgrad --competitor both: xgrad's own 1- vs 2-thread table, quiet and with its competitor;
#  2. the Tiny LM race against every peer, 1 and 2 threads, quiet and with the competitor, 5 rounds;
#  3. the larger model, 2 threads, quiet, 3 rounds of 5 timed steps (a step is ~125x the Tiny LM's work).
# Each part's output and raw JSON lines go to OUT_DIR (default build-bench/race-DATE), with `uptime` before
# and after each part, and the Markdown tables of parts 2 and 3 to OUT_DIR/{tiny,large}-tables.md.
# RACE_QUICK=1 makes it a short smoke run (1 round, 3 steps; 1 step of the larger model).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-build-bench/race-$(date +%Y%m%d-%H%M)}
mkdir -p "$OUT"
rounds=5 steps=30 large_rounds=3 large_steps=5
[[ "${RACE_QUICK:-0}" == 1 ]] && rounds=1 steps=3 large_rounds=1 large_steps=1

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DXGRAD_WERROR=ON -DXGRAD_BUILD_BENCH=ON \
      -DXGRAD_BUILD_TESTS=OFF -DXGRAD_BUILD_EXAMPLES=OFF >/dev/null
targets=(bench_race_xgrad)
# bench_race (LibTorch's side) exists only where CMake found Debian's libtorch-dev.
help=$(cmake --build build-bench --target help)
grep -qx '\.\.\. bench_race' <<<"$help" && targets+=(bench_race)
cmake --build build-bench -j"$(nproc)" --target "${targets[@]}"
bash tools/setup-peers.sh

part() {  # part NAME COMMAND...: runs it with uptime before and after, output to the terminal and $OUT/NAME.txt
  local name=$1
  shift
  { echo "uptime before: $(uptime)"; "$@"; echo "uptime after: $(uptime)"; } 2>&1 | tee "$OUT/$name.txt"
}
part xgrad-threads ./build-bench/bench/race/bench_race_xgrad --threads 1,2 --competitor both --rounds "$rounds" \
     --steps "$steps"
part tiny python3 bench/peers/run_race.py --build build-bench --model tiny --threads 1,2 --competitor both \
     --rounds "$rounds" --steps "$steps" --json-out "$OUT/tiny.jsonl"
part large python3 bench/peers/run_race.py --build build-bench --model large --threads 2 --competitor off \
     --rounds "$large_rounds" --steps "$large_steps" --warmup 1 --json-out "$OUT/large.jsonl"
for model in tiny large; do  # the Markdown tables docs/benchmarks.md shows
  python3 bench/peers/run_race.py --tables "$OUT/$model.jsonl" >"$OUT/$model-tables.md"
done
echo "race_all: results in $OUT"
