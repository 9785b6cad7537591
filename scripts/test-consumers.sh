#!/usr/bin/env bash
# Builds and runs tests/consumer three ways, as another project would use skim:
#   1. add_subdirectory of this checkout,
#   2. find_package(skim) against a fresh `cmake --install` of the build dir,
#   3. pkg-config (skim.pc from that install) and a plain compiler line.
# Usage: scripts/test-consumers.sh [build dir, default build] [--installed-only]   (run after
# scripts/test.sh has built it). Work goes to <build dir>/consumers, which is emptied first.
# A build with BUILD_SHARED_LIBS=ON (scripts/test-clang.sh's) installs libskim.so too: ways 2
# and 3 then also build consumers linked against that shared library alone (skim::shared,
# and skim.pc, whose static twin is skim-static.pc), checked to need it and to run with it.
# --installed-only leaves out way 1 (a second build of the whole library).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=$(cd "${1:-build}" && pwd)
only_installed=0
if [ "${2:-}" = "--installed-only" ]; then only_installed=1; fi
work=$build/consumers
rm -rf "$work"
mkdir -p "$work"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
step() { printf '\n== test-consumers: %s\n' "$*"; }

step "install $build -> $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
# The install holds the public headers, the libraries, the CMake package and skim.pc.
for f in include/skim.h include/skim-backend.h include/skim-cpu.h; do
  test -f "$work/prefix/$f" || { echo "missing $f in the install"; exit 1; }
done
pcdir=$(dirname "$(find "$work/prefix" -name skim.pc | head -n1)")
cfgdir=$(dirname "$(find "$work/prefix" -name skimConfig.cmake | head -n1)")
test -f "$pcdir/skim.pc" && test -f "$cfgdir/skimConfig.cmake"

# The add_subdirectory build also takes the way an Android build without glslc would: the
# main build's SPIR-V (SKIM_SPIRV_DIR), with SKIM_GLSLC pointing at nothing, so that a
# shader compiled there would fail the build.
spirv=()
if ls "$build"/backends/vulkan/gen/*.spv >/dev/null 2>&1; then
  spirv=(-DSKIM_SPIRV_DIR="$build/backends/vulkan/gen" -DSKIM_GLSLC=/nonexistent/glslc)
fi
if [ $only_installed = 0 ]; then
  step "add_subdirectory ${spirv[*]}"
  cmake -S tests/consumer -B "$work/subdir" "${gen[@]}" -DCMAKE_BUILD_TYPE="$type" \
        -DSKIM_CONSUMER_MODE=subdir -DSKIM_SOURCE_DIR="$src" -DSKIM_WERROR=ON "${spirv[@]}" \
        >"$work/subdir.log"
  cmake --build "$work/subdir" >>"$work/subdir.log"
fi

step "find_package (CMAKE_PREFIX_PATH=$work/prefix only)"
cmake -S tests/consumer -B "$work/package" "${gen[@]}" -DCMAKE_BUILD_TYPE="$type" \
      -DSKIM_CONSUMER_MODE=package -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/package.log"
cmake --build "$work/package" >>"$work/package.log"

step "pkg-config (PKG_CONFIG_PATH=$pcdir)"
mkdir -p "$work/pkgconfig"
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_LIBDIR=$pcdir
cc=${CC:-cc}
flags=(-std=c99 -Wall -Wextra -Werror -pedantic)
shared=0
if [ -f "$pcdir/skim-static.pc" ]; then # skim.pc is libskim.so's: found through RUNPATH
  shared=1
  flags+=(-Wl,-rpath,"$(pkg-config --variable=libdir skim)")
fi
# shellcheck disable=SC2046 # pkg-config's output is a list of words
"$cc" "${flags[@]}" tests/consumer/main.c $(pkg-config --cflags --libs skim) \
      -o "$work/pkgconfig/consumer"
if pkg-config --variable=backends skim | grep -qw vulkan; then
  # shellcheck disable=SC2046
  "$cc" "${flags[@]}" -DCONSUMER_VULKAN tests/consumer/main.c $(pkg-config --cflags --libs skim) \
        -o "$work/pkgconfig/consumer_vulkan"
fi

# Every binary must be there, run, and find the values main.c computes itself.
exes=(package/consumer package/consumer_cpu pkgconfig/consumer)
if [ $only_installed = 0 ]; then exes+=(subdir/consumer subdir/consumer_cpu); fi
if pkg-config --variable=backends skim | grep -qw vulkan; then
  exes+=(package/consumer_vulkan pkgconfig/consumer_vulkan)
  if [ $only_installed = 0 ]; then exes+=(subdir/consumer_vulkan); fi
  if [ $shared = 1 ]; then exes+=(package/consumer_shared_vulkan package/consumer_split_vulkan); fi
fi
if [ $shared = 1 ]; then
  exes+=(package/consumer_shared package/consumer_split)
  # Linked against the shared library alone: it is NEEDED under its soname, and no skim_
  # function is defined in the program itself.
  soname=$(readelf -d "$(find "$work/prefix" -name 'libskim.so.*.*' | head -n1)" |
           sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
  for exe in package/consumer_shared package/consumer_shared_vulkan pkgconfig/consumer \
             pkgconfig/consumer_vulkan package/consumer_split package/consumer_split_vulkan; do
    [ -f "$work/$exe" ] || continue
    # the split libraries: libskim-core.so.<major>.<minor> under the backend's library
    case $exe in *_split*) soname=${soname/libskim.so/libskim-core.so} ;; esac
    # (outputs captured first: grep -q ends a pipe early, which pipefail counts as a failure)
    dyn=$(readelf -d "$work/$exe"); syms=$(nm --defined-only "$work/$exe"); libs=$(ldd "$work/$exe")
    grep -q "NEEDED.*\[$soname\]" <<<"$dyn" || { echo "$exe does not need $soname"; exit 1; }
    if grep -q ' T skim_' <<<"$syms"; then
      echo "$exe has skim functions of its own (a static library was linked)"; exit 1
    fi
    grep -q "$soname => $work/prefix/" <<<"$libs" ||
      { echo "$exe does not load $soname from the install"; echo "$libs"; exit 1; }
  done
  step "shared: consumers need libskim.so / libskim-core.so from $work/prefix and define no skim_ function"
fi
for exe in "${exes[@]}"; do
  step "run $exe"
  "$work/$exe"
done
step "all ${#exes[@]} consumer binaries passed"
