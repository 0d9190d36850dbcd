#!/usr/bin/env bash
# From a fresh clone to a trained model: installs missing Debian packages, builds the training
# example in Release mode and runs it on its default (synthetic) data.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --target train_mlp -j"$(nproc)"
./build/examples/train_mlp
