#!/usr/bin/env bash
# The second warnings gate: the whole tree (library, backends, models, examples, tests)
# built with clang and -Werror -Wall -Wextra, beside the gcc build of scripts/test.sh;
# then the core suite of that build, less test_property (the sanitizer suite runs it with
# clang already). The build is also the shared configuration (BUILD_SHARED_LIBS=ON:
# libskim.so beside the static libraries), whose tests (label shared) check its exports
# and soname and run the quick start linked against it. From an empty build folder: 45 s
# of CPU time, 85-170 s of wall time on a busy two-core machine.
# Usage: scripts/test-clang.sh [build-dir]   (default: build-clang)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-clang}
t0=$(date +%s)
CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSKIM_WERROR=ON -DBUILD_SHARED_LIBS=ON > "$dir.configure.log"
cmake --build "$dir"
ctest --test-dir "$dir" --output-on-failure -j2 -L 'core|shared' -E '^test_property$'
echo "== test-clang: clang -Werror build and core suite ($(( $(date +%s) - t0 )) s)"
