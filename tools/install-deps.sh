#!/usr/bin/env bash
# Installs the Debian 12 packages xgrad builds against, and only those that are missing.
# Root installs directly, others through sudo; without either it prints the apt line and fails.
set -euo pipefail

# libopenmpi-dev and openmpi-bin (mpiexec): the optional data-parallel library xgrad_dist and its mpi tests.
# libdnnl-dev (oneDNN; its CMake package also needs ocl-icd-opencl-dev): bfloat16 products (XGRAD_ONEDNN).
packages=(cmake g++ make xtensor-dev libxtensor-blas-dev libxsimd-dev xtl-dev libopenblas-dev
          catch2 libfmt-dev nlohmann-json3-dev libcli11-dev libbenchmark-dev zlib1g-dev
          libopenmpi-dev openmpi-bin libdnnl-dev ocl-icd-opencl-dev)

missing=()
for p in "${packages[@]}"; do
  # "install ok installed" is the only status that means the package is usable.
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} build dependencies are installed"
  exit 0
fi

echo "install-deps: missing ${missing[*]}"
apt_line="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: not root and no sudo; as root run:" >&2
  echo "  $apt_line" >&2
  exit 1
fi
# env, because sudo drops the caller's environment; no debconf questions (CI has no stdin).
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
