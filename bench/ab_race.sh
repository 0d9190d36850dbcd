#!/usr/bin/env bash
# Interleaved A/B of two builds of bench_race_xgrad (e.g. before and after a change): rounds alternate
# which build goes first, so machine load drifts hit both alike. Prints each round's median step time and
# CPU time per step, the per-round ratios B/A and their medians, with the load average. On a busy machine
# the CPU-time ratio is the one to read: wall time then mostly measures the scheduler.
# Arguments after the thread count go to both programs (e.g. --competitor on).
#   bench/ab_race.sh A/bench/race/bench_race_xgrad B/bench/race/bench_race_xgrad [rounds] [threads] [args...]
set -euo pipefail
a=$1 b=$2 rounds=${3:-8} threads=${4:-1}
shift $(($# < 4 ? $# : 4))
extra=("$@")
# "step_ms cpu_ms" of one run of 20 timed steps.
measure() {
  "$1" --threads "$threads" --steps 20 --warmup 3 "${extra[@]}" | awk '$1 == "xgrad" {print $4, $8}'
}
wall=() cpu=()
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then ma=$(measure "$a"); mb=$(measure "$b"); else mb=$(measure "$b"); ma=$(measure "$a"); fi
  read -r wa ca <<<"$ma"
  read -r wb cb <<<"$mb"
  wall+=("$(awk -v x="$wa" -v y="$wb" 'BEGIN {printf "%.3f", y / x}')")
  cpu+=("$(awk -v x="$ca" -v y="$cb" 'BEGIN {printf "%.3f", y / x}')")
  echo "round $r: A step $wa ms cpu $ca ms | B step $wb ms cpu $cb ms | B/A step ${wall[-1]} cpu ${cpu[-1]} | load $(cut -d' ' -f1-3 /proc/loadavg)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "median B/A over $rounds rounds: step $(median "${wall[@]}"), cpu $(median "${cpu[@]}")"
