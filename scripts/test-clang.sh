#!/usr/bin/env bash
# The second warnings gate: the whole tree (library, backends, models, examples, tests)
# built with clang and -Werror -Wall -Wextra, beside the gcc build of scripts/test.sh;
# then the core suite of that build, less test_property (the sanitizer suite runs it with
# clang already). About 85 s on two cores from an empty build folder.
# Usage: scripts/test-clang.sh [build-dir]   (default: build-clang)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-clang}
t0=$(date +%s)
CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSKIM_WERROR=ON > "$dir.configure.log"
cmake --build "$dir"
ctest --test-dir "$dir" --output-on-failure -j2 -L core -E '^test_property$'
echo "== test-clang: clang -Werror build and core suite ($(( $(date +%s) - t0 )) s)"
