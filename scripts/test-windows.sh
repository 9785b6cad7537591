#!/usr/bin/env bash
# Cross-compiles skim for 64-bit Windows with Debian's MinGW-w64 (see
# cmake/toolchains/x86_64-w64-mingw32.cmake): the core, the CPU backend, the Vulkan backend
# (volk, vulkan-1.dll loaded at run time) and the models library, with -Werror; then runs the
# CPU test suite under wine64 through ctest (CMAKE_CROSSCOMPILING_EMULATOR).
# Usage: scripts/test-windows.sh [build dir, default build-mingw]
# Custom ops on Vulkan are refused in this build: Debian has no MinGW build of shaderc or
# SPIRV-Tools (SKIM_SHADERC=OFF, and the validator is not found).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-mingw}
t0=$(date +%s)
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# The Vulkan headers and volk in a folder of their own: -I/usr/include would hand the host's
# C library headers to the Windows compiler.
vk=$PWD/$build/vulkan-headers
mkdir -p "$vk"
for d in vulkan vk_video; do
  [ -e "$vk/$d" ] || ln -s "/usr/include/$d" "$vk/$d"
done
cp -u /usr/include/volk.c /usr/include/volk.h "$vk/"
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSKIM_WERROR=ON \
      -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/x86_64-w64-mingw32.cmake \
      -DSKIM_VULKAN_INCLUDE="$vk" -DSKIM_VOLK_DIR="$vk" -DSKIM_SHADERC=OFF \
      -DSKIM_FUZZER=OFF > "$build.configure.log"
cmake --build "$build"
# What was built is Windows code, and every library is there.
for f in tests/test_golden.exe; do
  objdump -f "$build/$f" | grep -q "pei-x86-64" || { echo "test-windows: $f is not a PE32+ program"; exit 1; }
done
for l in graph/libskim_core.a backends/cpu/libskim_cpu.a backends/vulkan/libskim_vulkan.a \
         models/libskim_models.a; do
  [ -f "$build/$l" ] || { echo "test-windows: $build/$l was not built"; exit 1; }
done
echo "== test-windows: built in $(( $(date +%s) - t0 )) s"

wine=$(sed -n 's/^SKIM_WINE64:FILEPATH=//p' "$build/CMakeCache.txt")
[ -x "$wine" ] || { echo "test-windows: wine64 not found (Debian: wine64)"; exit 1; }
export WINEPREFIX=$PWD/$build/wineprefix WINEDEBUG=-all
"$wine" wineboot --init >/dev/null 2>&1 || true # the prefix, once (about 20 s)
t1=$(date +%s)
# The CPU suite. Left out: tests on Vulkan (no Vulkan driver under wine here; the Vulkan
# test programs are not built for Windows: their harness wraps the loader with dlopen), the
# eval, soak and scale runs and the fuzzers' replays (the native suite runs them), and the
# two tests that spawn the llama2.c converter through system() with POSIX quoting.
ctest --test-dir "$build" --output-on-failure -j2 -LE '^(vulkan|eval|soak|fuzz|scale)$' \
      -E '^(test_property|test_convert|llama_golden_cpu|.*_vulkan|.*_vulkan_blocks)$'
"$wine" "$build/tests/test_property.exe" 100
echo "== test-windows: CPU suite under wine in $(( $(date +%s) - t1 )) s"
