#!/usr/bin/env bash
# The test suite three more ways, with clang:
#   1. AddressSanitizer + UndefinedBehaviorSanitizer (-fno-sanitize-recover=all), with
#      LeakSanitizer: the whole ctest suite, the Vulkan create-run-destroy tests among it
#      (test_vk_lifecycle, test_vk_embed, host_fault_vk: every create/allocate call and
#      every VkAllocationCallbacks allocation failed in turn); then the soak for fewer steps
#      and the graph fuzzer for a fixed count of inputs over the checked-in corpus;
#   2. ThreadSanitizer: the concurrency tests (host_concurrency, test_threads);
#   3. valgrind: the regular suite already runs the engine example under memcheck
#      (test_vk_valgrind); under ASan it cannot run and is left out here.
# Usage: scripts/test-sanitizers.sh [build-dir-prefix]   (default: build-san; makes
#        <prefix>-asan and <prefix>-tsan). SKIM_FUZZ_RUNS (default 1000000 inputs) and
#        SKIM_FUZZ_SECONDS (default 300, the bound on a slow machine) size the fuzzer.
# Suppressions (tests/host/*.supp) name code that is not skim's; each says why.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
prefix=${1:-build-san}
fuzz_runs=${SKIM_FUZZ_RUNS:-1000000} # about 60 s here; the seconds only bound a slow machine
fuzz_seconds=${SKIM_FUZZ_SECONDS:-300}
t0=$(date +%s)
stamp() { echo "== test-sanitizers: $* ($(( $(date +%s) - t0 )) s)"; }

# SKIM_WERROR stays off here: scripts/test-clang.sh is the clang warnings gate, and a
# warning should fail that gate, not hide the sanitizers' findings.
san_build() { # dir, sanitizer flags, extra cmake args...
  local dir=$1 flags=$2
  shift 2
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSKIM_WERROR=OFF "-DCMAKE_C_FLAGS=$flags -fno-omit-frame-pointer" \
    "-DCMAKE_CXX_FLAGS=$flags -fno-omit-frame-pointer" "-DCMAKE_EXE_LINKER_FLAGS=$flags" \
    "-DCMAKE_SHARED_LINKER_FLAGS=$flags" "$@" > "$dir.configure.log"
}

# ---------------------------------------------------------------- 1. ASan + UBSan + LSan
asan="-fsanitize=address,undefined -fno-sanitize-recover=all"
mkdir -p "$prefix-asan"
san_build "$prefix-asan" "$asan" -DSKIM_FUZZ=ON
cmake --build "$prefix-asan"
stamp "ASan+UBSan build"
# allocator_may_return_null: an allocation too large for ASan returns NULL, as malloc
# does, so that skim's OUT_OF_MEMORY paths run (the fuzzer asks for 2^40-element
# tensors; Mesa's device_select layer asks for hundreds of GB after a failed call).
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:check_initialization_order=1
export LSAN_OPTIONS=suppressions=$root/tests/host/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The Vulkan drivers stay resident in every process of this stage (scripts/vk-icd-libs.sh
# says why): the loader unmaps a driver at vkDestroyInstance, and a block the driver keeps
# in a global (lavapipe of Mesa 22.3.6-1+deb12u2) would be reported as a leak from an
# unnamed module. LeakSanitizer stays on: skim's own leaks are reported as before.
icd_libs=$(bash scripts/vk-icd-libs.sh | paste -sd: -)
echo "== test-sanitizers: Vulkan drivers kept resident: ${icd_libs:-none found}"
export LD_PRELOAD=${icd_libs}${LD_PRELOAD:+:$LD_PRELOAD}
# Left out: test_vk_valgrind (valgrind cannot run an ASan binary; the regular suite runs
# it) and the 10,000-step soaks (run below with fewer steps). host_fault_vk runs without
# the validation layer here (the regular suite runs it with): under ASan the layer makes
# each of its ~280 backend creations several times slower.
ctest --test-dir "$prefix-asan" --output-on-failure -j2 \
  -E '^(test_vk_valgrind|host_soak_cpu|host_soak_vulkan|host_fault_vk)$'
SKIM_TEST_VK_NO_VALIDATION=1 "$prefix-asan/tests/test_fault_vk" --calls || [ $? -eq 77 ]
# The VkAllocationCallbacks sweep with a suppression for lavapipe's own leaks on its own
# failure paths (tests/host/lsan_driver_oom.supp says why that cannot hide skim's).
LSAN_OPTIONS=suppressions=$root/tests/host/lsan_driver_oom.supp:print_suppressions=0 \
  SKIM_TEST_VK_NO_VALIDATION=1 "$prefix-asan/tests/test_fault_vk" --callbacks || [ $? -eq 77 ]
stamp "ASan+UBSan suite"
"$prefix-asan/tests/test_soak" assets/gated-shakespeare.gguf cpu 2000
"$prefix-asan/tests/test_soak" assets/gated-shakespeare.gguf vulkan 500 || [ $? -eq 77 ]
stamp "ASan soak"
# The graph fuzzer: the checked-in seeds plus a scratch corpus that it grows (outside the
# tree); any crash, trap, sanitizer report or leak stops it with a non-zero status. Its
# random seed and count of inputs are fixed (SKIM_FUZZ_SEED, default 1), as are those of
# ctest's short fuzz runs: CI explores the same inputs each time (a bound in time would make
# the count the machine's speed), and a failure there is the change's; the long runs with
# fresh seeds are scripts/fuzz.sh's.
fuzz_dir="$prefix-asan/fuzz_graph_corpus"
mkdir -p "$fuzz_dir"
fuzz_rc=0
"$prefix-asan/tests/fuzz_graph" -seed="${SKIM_FUZZ_SEED:-1}" -runs="$fuzz_runs" -max_total_time="$fuzz_seconds" \
  -max_len=512 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$prefix-asan/fuzz_graph-" "$fuzz_dir" tests/fuzz/corpus \
  > "$prefix-asan/fuzz_graph.log" 2>&1 || fuzz_rc=$?
grep -E "DONE|^stat::|^Done|ERROR|SUMMARY|runtime error|deadly" "$prefix-asan/fuzz_graph.log" || true
echo "fuzz_graph: corpus now $(ls "$fuzz_dir" | wc -l) files (seeds: $(ls tests/fuzz/corpus | wc -l))"
if [ "$fuzz_rc" -ne 0 ]; then
  tail -n 60 "$prefix-asan/fuzz_graph.log"
  exit "$fuzz_rc"
fi
stamp "graph fuzzer ($fuzz_runs inputs at most, $fuzz_seconds s at most)"

# ---------------------------------------------------------------- 2. TSan
unset LD_PRELOAD
mkdir -p "$prefix-tsan"
san_build "$prefix-tsan" "-fsanitize=thread" -DSKIM_BUILD_EXAMPLES=OFF
cmake --build "$prefix-tsan" --target test_concurrency test_threads
stamp "TSan build"
# No suppressions: lavapipe ran clean under TSan here (Mesa 22.3.6).
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
"$prefix-tsan/tests/test_threads"
"$prefix-tsan/tests/test_concurrency" 1000 || [ $? -eq 77 ]
stamp "TSan: all clean"
