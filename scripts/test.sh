#!/usr/bin/env bash
# README command 2: set up, build everything and run the test suite (unit + integration; the `slow`
# label is left out: run it with `ctest --test-dir build -L slow`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build -L 'unit|integration' --output-on-failure -j"$(nproc)"
