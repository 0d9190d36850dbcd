#!/usr/bin/env bash
# The CUDA plugin's check on a fresh GPU machine that has CUDA, CMake, ninja, a C++ compiler and PyTorch but
# no Debian development packages and no network (docs/cuda.md, "Checking a GPU machine"):
#   1. nvidia-smi;
#   2. unpacks the .deb files of tools/gpu-deps.sh (.gpu-debs/) into a prefix under /tmp, never into /;
#   3. configures and builds xgrad with -DXGRAD_CUDA=ON for this GPU's architecture only, on every core;
#   4. runs the conformance suite on cuda:0 (every op against the CPU, float64 gradchecks on the device,
#      Tiny LM losses against the CPU's);
#   5. trains examples/char_lm for 300 steps on cuda;
#   6. runs bench/cuda/xgrad_cuda_bench and its PyTorch peer bench/cuda/torch_peer.py;
#   7. prints one summary table. Exit status: 0 when every step passed.
# Usage: tools/gpu-check.sh            the check (about 6-9 minutes)
#        tools/gpu-check.sh --dry-run  on a machine without a GPU: unpacks the .debs and configures against the
#                                      prefix alone (system packages hidden), proving the .deb set is complete
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

dry_run=false
[[ ${1:-} == --dry-run ]] && dry_run=true
prefix=/tmp/xgrad-gpu-prefix
build="build-gpu"
logs=/tmp/xgrad-gpu-logs
start=$SECONDS
results=()  # "step|status|detail"
failed=0

log() { printf '\n=== [%3ds] %s\n' $((SECONDS - start)) "$*"; }
record() {  # step, status (PASS/FAIL), detail
  results+=("$1|$2|$3")
  [[ $2 == PASS ]] || failed=1
}

# ---- the prefix of unpacked .debs -----------------------------------------------------------------
usr=$prefix/usr
multiarch=$usr/lib/x86_64-linux-gnu
openblas=$multiarch/openblas-pthread  # Debian's OpenBLAS variant directory (alternatives are not set up here)

unpack_debs() {
  if [[ ! -f .gpu-debs/SHA256SUMS ]]; then
    echo "gpu-check: .gpu-debs/ is missing: run tools/gpu-deps.sh on a Debian 12 machine with network first" >&2
    return 1
  fi
  (cd .gpu-debs && sha256sum --check --quiet SHA256SUMS) || return 1
  rm -rf "$prefix" && mkdir -p "$prefix"
  local deb
  for deb in .gpu-debs/*.deb; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$deb" "$prefix" || return 1
    else  # a .deb is an ar archive holding data.tar.*
      local tmp
      tmp=$(mktemp -d)
      (cd "$tmp" && ar x "$OLDPWD/$deb" && tar -xf data.tar.* -C "$prefix") || return 1
      rm -rf "$tmp"
    fi
  done
  # Absolute links (libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) would point out of the prefix.
  local link target
  while IFS= read -r link; do
    target=$(readlink "$link")
    [[ $target == /* ]] && ln -sfn "$prefix$target" "$link"
  done < <(find "$prefix" -type l)
  return 0
}

cmake_prefix_args=(
  -DCMAKE_PREFIX_PATH="$usr"
  -DCMAKE_LIBRARY_PATH="$openblas;$multiarch;$prefix/lib/x86_64-linux-gnu"
  -DCMAKE_CXX_FLAGS="-isystem $usr/include/x86_64-linux-gnu/openblas-pthread"  # cblas.h
)
export LD_LIBRARY_PATH="$openblas:$multiarch:$prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

mkdir -p "$logs"

# ---- dry run: the .deb set alone must satisfy CMake --------------------------------------------------
if $dry_run; then
  log "dry run: unpacking .gpu-debs into $prefix"
  unpack_debs || exit 1
  log "dry run: configuring against $prefix only (system /usr hidden from find_package and find_library)"
  rm -rf "$build-dry"
  hidden="/usr/lib/x86_64-linux-gnu;/lib/x86_64-linux-gnu;/usr/include;/usr/share/cmake;/usr/lib/cmake;/usr/lib/x86_64-linux-gnu/cmake"
  if ! cmake -S . -B "$build-dry" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXGRAD_CUDA=OFF "${cmake_prefix_args[@]}" \
       -DCMAKE_IGNORE_PREFIX_PATH="/usr;/usr/local" -DCMAKE_IGNORE_PATH="$hidden" >"$logs/dry-configure.log" 2>&1; then
    tail -20 "$logs/dry-configure.log"
    echo "gpu-check --dry-run: FAIL: CMake does not configure against the unpacked .debs" >&2
    exit 1
  fi
  bad=0
  for var in xtl_DIR xsimd_DIR xtensor_DIR fmt_DIR nlohmann_json_DIR Catch2_DIR CLI11_DIR BLAS_openblas_LIBRARY \
             ZLIB_INCLUDE_DIR ZLIB_LIBRARY_RELEASE; do
    value=$(grep -E "^$var:" "$build-dry/CMakeCache.txt" | cut -d= -f2-)
    if [[ $value == "$prefix"* ]]; then echo "  $var = $value"
    else echo "  $var = '$value' is not inside $prefix" >&2; bad=1; fi
  done
  [[ $bad -eq 0 ]] || { echo "gpu-check --dry-run: FAIL" >&2; exit 1; }
  echo "gpu-check --dry-run: PASS: $(find .gpu-debs -name "*.deb" | wc -l) .debs unpack and CMake finds every dependency in them ($((SECONDS - start)) s)"
  exit 0
fi

# ---- 1. the GPU -------------------------------------------------------------------------------------
log "nvidia-smi"
if ! nvidia-smi; then
  echo "gpu-check: nvidia-smi failed: no usable NVIDIA GPU or driver here" >&2
  exit 1
fi
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1)
arch=${cap/./}
record "GPU" PASS "$gpu, compute capability $cap, driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"

# ---- 2-3. dependencies and build --------------------------------------------------------------------
log "unpacking .gpu-debs into $prefix"
if unpack_debs; then record "unpack .debs" PASS "$(find .gpu-debs -name "*.deb" | wc -l) packages into $prefix"
else record "unpack .debs" FAIL "see above"; fi

log "configure and build (sm_$arch, $(nproc) cores)"
t0=$SECONDS
if cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXGRAD_CUDA=ON -DXGRAD_CUDA_ARCHITECTURES="$arch" \
     -DXGRAD_BUILD_TESTS=ON -DXGRAD_BUILD_EXAMPLES=ON "${cmake_prefix_args[@]}" >"$logs/configure.log" 2>&1 &&
   cmake --build "$build" -j"$(nproc)" >"$logs/build.log" 2>&1 &&
   cmake --build "$build" -j"$(nproc)" --target xgrad_cuda_bench >>"$logs/build.log" 2>&1; then
  record "build" PASS "$((SECONDS - t0)) s, sm_$arch"
else
  tail -30 "$logs/configure.log" "$logs/build.log"
  record "build" FAIL "see $logs/build.log"
fi

# ---- 4. conformance on cuda ---------------------------------------------------------------------------
log "conformance suite on cuda:0"
conformance=$(find "$build" -name xgrad_conformance -type f -perm -u+x 2>/dev/null | head -1)
if [[ -z $conformance ]]; then
  record "conformance" FAIL "xgrad_conformance was not built"
else
  timeout 300 "$conformance" --device cuda:0 2>&1 | tee "$logs/conformance.log" | tail -25
  rc=${PIPESTATUS[0]}
  case $rc in
    0) record "conformance" PASS "$(tail -1 "$logs/conformance.log")" ;;
    77) record "conformance" FAIL "skipped: cuda:0 unavailable ($(tail -1 "$logs/conformance.log"))" ;;
    *) record "conformance" FAIL "exit $rc, see $logs/conformance.log" ;;
  esac
fi

# ---- 5. char_lm on cuda -----------------------------------------------------------------------------
log "char_lm, 300 steps on cuda"
t0=$SECONDS
timeout 240 "$build/examples/char_lm" --device cuda --steps 300 --eval-every 100 \
  --checkpoint-dir /tmp/xgrad-gpu-char-lm >"$logs/char_lm.log" 2>&1
rc=$?
if [[ $rc -eq 0 ]]; then
  record "char_lm --device cuda" PASS "300 steps in $((SECONDS - t0)) s; $(grep -i loss "$logs/char_lm.log" | tail -1)"
else
  tail -15 "$logs/char_lm.log"
  record "char_lm --device cuda" FAIL "exit status $rc, see $logs/char_lm.log"
fi

# ---- 6. benchmarks ------------------------------------------------------------------------------------
log "xgrad_cuda_bench"
if timeout 360 "$build/bench/cuda/xgrad_cuda_bench" 2>&1 | tee "$logs/bench.txt"; then
  record "xgrad_cuda_bench" PASS "$logs/bench.txt"
else
  record "xgrad_cuda_bench" FAIL "see $logs/bench.txt"
fi
log "PyTorch peer (eager and torch.compile)"
if timeout 300 python3 bench/cuda/torch_peer.py 2>&1 | tee "$logs/torch.txt"; then
  record "torch_peer.py" PASS "$logs/torch.txt"
else
  record "torch_peer.py" FAIL "see $logs/torch.txt"
fi

# ---- 7. summary -----------------------------------------------------------------------------------------
figure() { grep -hE "^$1 " "$logs/bench.txt" "$logs/torch.txt" 2>/dev/null | tail -1 | cut -d' ' -f2; }
ratio() { [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }
echo
echo "==================== xgrad CUDA check: $gpu, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $((SECONDS - start)) s"
printf '%-24s %-5s %s\n' STEP STATUS DETAIL
for r in "${results[@]}"; do
  IFS='|' read -r name status detail <<<"$r"
  printf '%-24s %-5s %s\n' "$name" "$status" "$detail"
done
echo
printf '%-44s %14s %14s %8s\n' FIGURE XGRAD PEER RATIO
for lm in tiny_lm large_lm; do
  gpu_tps=$(figure "${lm}_cuda_tokens_per_s")
  printf '%-44s %14s %14s %8s\n' "$lm tokens/s, cuda vs 2-thread CPU" "${gpu_tps:--}" "$(figure "${lm}_cpu2_tokens_per_s")" \
    "$(ratio "$gpu_tps" "$(figure "${lm}_cpu2_tokens_per_s")")"
  for mode in eager compile; do
    peer=$(figure "torch_${lm}_${mode}_tokens_per_s")
    printf '%-44s %14s %14s %8s\n' "$lm tokens/s, vs PyTorch $mode" "${gpu_tps:--}" "${peer:--}" "$(ratio "$gpu_tps" "$peer")"
  done
done
for pass in fwd fwd_bwd; do
  fused=$(figure "attention_fused_${pass}_ms")
  unfused=$(figure "attention_unfused_${pass}_ms")
  printf '%-44s %14s %14s %8s\n' "attention $pass ms (B8 S1024 E512 H8), vs unfused" "${fused:--}" "${unfused:--}" \
    "$(ratio "$unfused" "$fused")"
done
for shape in 8192x2048x512 8192x512x2048 8192x512x512 4096x4096x4096; do
  mine=$(figure "gemm_${shape}_xgrad_tflops")
  theirs=$(figure "gemm_${shape}_cublas_tflops")
  printf '%-44s %14s %14s %8s\n' "GEMM $shape TFLOP/s, vs cuBLAS" "${mine:--}" "${theirs:--}" "$(ratio "$mine" "$theirs")"
done
exit $failed
