#!/usr/bin/env bash
# Sets up, builds with -Werror and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/versions.sh   # the package state these results belong to
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSKIM_WERROR=ON
cmake --build build
# setup.sh installs lavapipe: here a Vulkan test without a device fails instead of skipping.
SKIM_TEST_VK_REQUIRE=1 ctest --test-dir build --output-on-failure -j2 "$@"
bash scripts/test-sanitizers.sh build-san   # ASan+UBSan+LSan suite, graph fuzzer, TSan threads
bash scripts/test-clang.sh build-clang   # the second warnings gate: clang -Werror, shared library
bash scripts/test-consumers.sh build   # tests/consumer: add_subdirectory, find_package, pkg-config
bash scripts/test-consumers.sh build-clang --installed-only   # the same against the shared install
bash scripts/test-cross.sh build-aarch64   # aarch64 cross build, CPU suite under qemu-user
bash scripts/test-windows.sh build-mingw   # MinGW-w64 cross build, CPU suite under wine64
