#!/usr/bin/env bash
# From a fresh clone to a trained model: installs missing Debian packages, builds the examples in
# Release mode and trains the character-level Transformer language model (examples/char_lm) on its
# default data, the Jargon File shipped in examples/data/. About 3 minutes of training on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build --target char_lm -j"$(nproc)"
./build/examples/char_lm --threads "$(nproc)" --checkpoint-dir build/char_lm_run --no-progress
echo "metrics, loss curve (loss.svg) and checkpoints: build/char_lm_run/"
