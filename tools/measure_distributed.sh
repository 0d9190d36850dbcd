#!/usr/bin/env bash
# Measures data-parallel training on this machine with char_lm at its default size (the Tiny LM shape on the
# Jargon File, global batch 32 x 64 tokens): 1 process x 1 thread, 1 process x 2 threads and 2 MPI ranks x 1
# thread, interleaved, REPEATS times each (default 2), STEPS steps per run (default 100), then the same
# allreduce without training around it. Prints one markdown table row per run: the median tokens/s over the
# steps after the first 10, for 2 ranks the time rank 0 spent communicating per step, and the 1-minute load
# average before and after the run. Needs a build with MPI (build/, or BUILD=dir) and mpicc;
# docs/distributed.md shows its output.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
steps=${STEPS:-100}
repeats=${REPEATS:-2}
cmake --build "$build" --target char_lm -j"$(nproc)" >/dev/null
char_lm=$build/examples/char_lm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# No evaluation and no checkpoint until the last step, so that the logged steps are training steps only.
args=(--steps "$steps" --eval-every 1000000 --checkpoint-every 1000000 --no-progress)
# Open MPI over shared memory only (one machine); root needs its explicit permission.
mpirun=(mpirun --mca pml ob1 --mca btl self,vader)
[[ $(id -u) -eq 0 ]] && mpirun+=(--allow-run-as-root)

load() { cut -d' ' -f1 /proc/loadavg; }

# The allreduce alone: the Tiny LM's gradient bytes in its two buckets (1 MiB, then the rest), between
# 2 ranks, 5 warm-up rounds then the median of 50, without any training around it.
cat >"$work/allreduce.c" <<'C'
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
static int by_value(const void* a, const void* b) { double x = *(const double*)a, y = *(const double*)b; return (x > y) - (x < y); }
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int total = 444827, first = (1 << 20) / 4;
  float* grads = calloc(total, sizeof(float));
  double t[55];
  for (int i = 0; i < 55; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, grads, first, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, grads + first, total - first, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    t[i] = MPI_Wtime() - t0;
  }
  qsort(t + 5, 50, sizeof(double), by_value);
  if (rank == 0) printf("%.2f\n", 1e3 * t[30]);
  MPI_Finalize();
  return 0;
}
C
mpicc -O2 -o "$work/allreduce" "$work/allreduce.c"
# Median of the tokens/s column of metrics.csv, skipping the header and the first 10 steps.
median_tokens() { tail -n +12 "$1" | cut -d, -f5 | sort -g | awk '{v[NR] = $1} END {print int(v[int((NR + 1) / 2)])}'; }

declare -A label=([1x1]="1 process x 1 thread" [1x2]="1 process x 2 threads" [2x1]="2 ranks x 1 thread")
echo "| run | tokens/s | allreduce per step (rank 0) | load before / after |"
echo "|---|---|---|---|"
for ((r = 1; r <= repeats; r++)); do
  for config in "1x1" "1x2" "2x1"; do
    dir=$work/$config-$r
    before=$(load)
    case $config in
      1x1) "$char_lm" "${args[@]}" --threads 1 --checkpoint-dir "$dir" >"$dir.log" 2>&1 ;;
      1x2) "$char_lm" "${args[@]}" --threads 2 --checkpoint-dir "$dir" >"$dir.log" 2>&1 ;;
      2x1) "${mpirun[@]}" -np 2 "$char_lm" "${args[@]}" --threads 1 --checkpoint-dir "$dir" >"$dir.log" 2>&1 ;;
    esac
    share=$(grep -o '[0-9.]* ms of a [0-9.]* ms step ([0-9.]* %)' "$dir.log" || true)
    echo "| ${label[$config]} | $(median_tokens "$dir/metrics.csv") | ${share:--} | $before / $(load) |"
  done
  before=$(load)
  echo "| the allreduce alone, 2 ranks | - | $("${mpirun[@]}" -np 2 "$work/allreduce") ms | $before / $(load) |"
done
