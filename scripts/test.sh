#!/usr/bin/env bash
# Sets up, builds with -Werror and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSKIM_WERROR=ON
cmake --build build
ctest --test-dir build --output-on-failure -j2 "$@"
