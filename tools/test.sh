#!/usr/bin/env bash
# From a fresh clone to a passing test suite: installs missing Debian packages, builds everything
# with warnings as errors and runs every test (unit tests and the install test) through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DXGRAD_WERROR=ON
cmake --build build -j"$(nproc)"
# CTest ends with its summary ("100% tests passed, 0 tests failed out of N") and exits non-zero on a failure.
ctest --test-dir build --output-on-failure -j"$(nproc)"
