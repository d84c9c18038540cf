#!/usr/bin/env bash
# README command 1: set up (packages + Brown corpus), build, run the quickstart experiment and plot it.
# Leaves results/quickstart.h5 and results/quickstart.png.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target collapse
./build/collapse run experiments/quickstart.toml -o results/quickstart.h5
./build/collapse info results/quickstart.h5 | head -20
/usr/bin/python3 scripts/plot_collapse.py results/quickstart.h5 \
  --metric distinct_types --metric missing_mass --by loop.anchoring -o results/quickstart.png
