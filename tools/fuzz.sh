#!/usr/bin/env bash
# Fuzzes the checkpoint readers: builds the libFuzzer harnesses of tests/fuzz/ with clang-16 under
# AddressSanitizer + UndefinedBehaviorSanitizer in build-fuzz/ (the library and the harnesses only),
# then runs each harness for the given number of seconds, starting from the committed seed corpus.
# Exits non-zero if any harness reports a crash, a sanitizer error, an untyped exception or a hang.
#
#   tools/fuzz.sh 60          # 60 seconds per harness (4 harnesses)
#
# Environment: FUZZ_CXX (default clang++-16), FUZZ_JOBS (build jobs, default 2), FUZZ_BUILD_DIR
# (default build-fuzz). What a run found stays in $FUZZ_BUILD_DIR: fuzz_<target>.log, the grown corpus
# in corpus/<target>/ and any crashing input in artifacts/<target>/ (reproduce with
# build-fuzz/tests/fuzz/fuzz_<target> <that file>).
set -euo pipefail

if [[ $# -ne 1 || ! $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: tools/fuzz.sh <seconds-per-target>" >&2
  exit 2
fi
seconds=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
cxx=${FUZZ_CXX:-clang++-16}
targets=(safetensors module_load optimizer_load training_state_load)

if ! command -v "$cxx" >/dev/null; then
  echo "fuzz.sh: $cxx not found; install it with: apt-get install clang-16 libclang-rt-16-dev" >&2
  exit 2
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

start=$SECONDS
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DXGRAD_FUZZ=ON -DXGRAD_SANITIZE=ON -DXGRAD_BUILD_TESTS=OFF -DXGRAD_BUILD_EXAMPLES=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j "${FUZZ_JOBS:-2}" --target xgrad_fuzz_targets >/dev/null
echo "fuzz.sh: built the harnesses in $((SECONDS - start)) s"

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=0
for target in "${targets[@]}"; do
  corpus=$build/corpus/$target artifacts=$build/artifacts/$target log=$build/fuzz_$target.log
  mkdir -p "$corpus" "$artifacts"
  cp -n "$root/tests/fuzz/corpus/$target/"* "$corpus/"  # libFuzzer adds what it finds here, not to the repo
  if "$build/tests/fuzz/fuzz_$target" "$corpus" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
      -dict="$root/tests/fuzz/safetensors.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
    echo "fuzz_$target: no finding; $runs inputs in ${took:-$seconds} s ($((runs / ${took:-$seconds})) exec/s)," \
         "corpus $(ls "$corpus" | wc -l) files"
  else
    failed=1
    echo "fuzz_$target: FINDING (log $log, input in $artifacts/):"
    grep -E "ERROR|runtime error|terminate|deadly signal|SUMMARY" "$log" | head -20 || tail -30 "$log"
  fi
done
echo "fuzz.sh: done in $((SECONDS - start)) s"
exit $failed
