#!/usr/bin/env bash
# Downloads the Debian 12 packages that xgrad builds against into .gpu-debs/ (git-ignored), so that
# tools/gpu-check.sh can build xgrad on a GPU machine that has CUDA, CMake, ninja and a C++ compiler but no
# Debian development packages and no network: it unpacks these files into a prefix under /tmp.
# Run it here (Debian 12, network to the package archive); it needs no root. Header-only libraries come as
# their -dev package; compiled ones (OpenBLAS, fmt, zlib) with the runtime packages their -dev packages
# depend on, down to libc, which every machine has.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=.gpu-debs
packages=(
  xtl-dev libxsimd-dev xtensor-dev libxtensor-dev libxtensor-blas-dev  # xtensor, SIMD, BLAS parts (headers)
  nlohmann-json3-dev libcli11-dev catch2                 # JSON, command lines, unit tests (headers)
  libfmt-dev libfmt9                                     # fmt
  libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libopenblas0  # OpenBLAS, pthread variant
  libgfortran5 libquadmath0                              # OpenBLAS's runtime dependencies
  zlib1g-dev zlib1g                                      # the examples' compressed corpus
)

if ! apt-cache show "${packages[0]}" >/dev/null 2>&1; then
  echo "gpu-deps: apt does not know ${packages[0]}; run 'apt-get update' first (as root)" >&2
  exit 1
fi
mkdir -p "$dest"
rm -f "$dest"/*.deb "$dest"/SHA256SUMS
# apt-get download fetches exactly the named packages, without dependencies: the list above is complete.
(cd "$dest" && apt-get download "${packages[@]}")
# Epochs appear as "%3a" in file names; plain names travel everywhere.
for f in "$dest"/*%3a*.deb; do [[ -e "$f" ]] && mv "$f" "${f//%3a/_}"; done
(cd "$dest" && sha256sum ./*.deb > SHA256SUMS)
count=$(find "$dest" -name '*.deb' | wc -l)
if [[ $count -ne ${#packages[@]} ]]; then
  echo "gpu-deps: expected ${#packages[@]} .deb files in $dest, found $count" >&2
  exit 1
fi
echo "gpu-deps: $count packages, $(du -sh "$dest" | cut -f1), in $dest (checksums in $dest/SHA256SUMS)"
