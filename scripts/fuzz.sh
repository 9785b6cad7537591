#!/usr/bin/env bash
# Long fuzzing runs, by hand (CI keeps its short runs: fuzz_gguf_short, and the graph
# fuzzer for SKIM_FUZZ_SECONDS in scripts/test-sanitizers.sh).
#
#   scripts/fuzz.sh [minutes] [target...]     (default: 10 minutes each, every target)
#
# Targets: gguf (tests/gguf/fuzz_gguf.c), graph (tests/fuzz/fuzz_graph.c), diff
# (tests/fuzz/fuzz_diff.c, CPU against Vulkan; skipped when not built). Each runs for the
# given minutes under ASan+UBSan (clang, libFuzzer), at nice 19, with its corpus in a
# folder of its own outside the build: $SKIM_FUZZ_DIR/<target>/corpus (default
# fuzz-corpus/, ignored by git), so that runs add up. What a run finds (crash, leak,
# timeout, sanitizer report) is minimised into the tree:
#   graph       -> tests/fuzz/corpus/found-graph-<hash>      (each a ctest case of its own)
#   diff        -> tests/fuzz/corpus_diff/found-diff-<hash>  (replayed by fuzz_diff_corpus)
#   gguf        -> tests/gguf/corpus/found-<hash>            (replayed by test_gguf_fuzz_corpus;
#                  give it a status-named case in make_corpus.py when fixing it)
# and the script exits 1. It prints, per target, executions, seconds and findings.
# The build: $SKIM_FUZZ_BUILD (default build-fuzz), configured here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
minutes=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gguf graph diff)
build=${SKIM_FUZZ_BUILD:-build-fuzz}
dir=${SKIM_FUZZ_DIR:-$root/fuzz-corpus}
case $minutes in '' | 0 | *[!0-9]*) echo "usage: $0 [minutes >= 1] [gguf|graph|diff ...]" >&2; exit 2 ;; esac

if [ ! -f "$build/build.ninja" ]; then
  san="-fsanitize=address,undefined -fno-sanitize-recover=all"
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSKIM_WERROR=OFF -DSKIM_FUZZ=ON -DSKIM_BUILD_EXAMPLES=OFF \
    "-DCMAKE_C_FLAGS=$san -fno-omit-frame-pointer" "-DCMAKE_CXX_FLAGS=$san -fno-omit-frame-pointer" \
    "-DCMAKE_EXE_LINKER_FLAGS=$san" "-DCMAKE_SHARED_LINKER_FLAGS=$san" > /dev/null
fi
want=()
for t in "${targets[@]}"; do
  case $t in
    gguf) want+=(fuzz_gguf_target) ;;
    graph) want+=(fuzz_graph) ;;
    diff) ninja -C "$build" -t targets all 2>/dev/null | grep '^fuzz_diff:' > /dev/null && want+=(fuzz_diff) ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
done
nice -n 19 cmake --build "$build" --target "${want[@]}" -j2 > /dev/null

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export LSAN_OPTIONS=suppressions=$root/tests/host/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The Vulkan drivers stay resident (as in scripts/test-sanitizers.sh), so that what a
# driver keeps past vkDestroyInstance is not reported as a leak of the diff target's: a
# report there would stop the run, and make any input pass for a finding when minimising.
icd_libs=$(bash scripts/vk-icd-libs.sh 2>/dev/null | paste -sd: - || true)
found_any=0
summary=()
for t in "${targets[@]}"; do
  extra=()
  case $t in
    gguf) bin=$build/tests/fuzz_gguf; seeds=tests/gguf/corpus; max_len=8192
          out=tests/gguf/corpus; pre=found- ;;
    graph) bin=$build/tests/fuzz_graph; seeds=tests/fuzz/corpus; max_len=512
           out=tests/fuzz/corpus; pre=found-graph- ;;
    diff) bin=$build/tests/fuzz_diff; seeds=tests/fuzz/corpus_diff; max_len=512
          out=tests/fuzz/corpus_diff; pre=found-diff-
          extra=(-detect_leaks=0) ;; # lavapipe keeps each new pipeline's memory; exit still checks
  esac
  if [ "$t" = diff ] && [ -n "$icd_libs" ]; then
    export LD_PRELOAD=$icd_libs
  else
    unset LD_PRELOAD
  fi
  if [ ! -x "$bin" ]; then
    summary+=("$t: not built (no clang with libFuzzer, or no Vulkan for diff)")
    continue
  fi
  work=$dir/$t
  mkdir -p "$work/corpus" "$work/artifacts" "$work/min"
  log=$work/run-$(date -u +%Y%m%dT%H%M%SZ).log
  # Findings: crash-, leak-, timeout-, oom- files (libFuzzer's slow-unit- ones are not).
  findings() { ls -t "$work/artifacts" | grep -v '^slow-unit-' || true; }
  before=$(findings | wc -l)
  echo "== fuzz.sh: $t for $minutes min (corpus $work/corpus, log $log)"
  t0=$(date +%s)
  rc=0
  # One process: a finding stops the run (libFuzzer's -fork would go on, a process a job).
  # -timeout: an input that runs a minute is a finding (a hang); one that is merely slow on
  # a loaded machine at nice 19 takes a few seconds of CPU.
  nice -n 19 "$bin" -max_total_time=$((minutes * 60)) -max_len=$max_len -timeout=60 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" ${extra[@]+"${extra[@]}"} \
    "$work/corpus" "$seeds" > "$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - t0 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -n "$execs" ] || execs=$(grep -o '#[0-9]*' "$log" | tail -1 | tr -d '#')
  new=$(( $(findings | wc -l) - before ))
  graphs=$(sed -n 's/^fuzz_diff: \([0-9]* graphs built, [0-9]* run\) on both.*/\1/p' "$log" | tail -1)
  line="$t: ${execs:-?} executions${graphs:+ ($graphs)} in $secs s, corpus $(ls "$work/corpus" | wc -l) files, exit $rc"
  if [ "$new" -gt 0 ] || [ "$rc" -ne 0 ]; then
    found_any=1
    grep -E "^SUMMARY|runtime error|ERROR: libFuzzer|deadly signal" "$log" | head -5 || true
    for a in $(findings | head -n "$new"); do
      src=$work/artifacts/$a
      min=$work/min/$a
      # Minimising re-runs the input many times (bounded to 5 minutes; a timeout is kept as
      # it is); the original stays when it does not help.
      case $a in
        timeout-*) ;;
        *) timeout 300 nice -n 19 "$bin" -minimize_crash=1 -runs=20000 -max_len=$max_len \
             -exact_artifact_path="$min" "$src" > "$log.min" 2>&1 || true ;;
      esac
      # libFuzzer can leave a reduction there that no longer fails: keep only one that does.
      if [ ! -s "$min" ] || "$bin" -runs=1 ${extra[@]+"${extra[@]}"} "$min" > /dev/null 2>&1; then
        cp "$src" "$min"
      fi
      dst=$out/$pre$(sha1sum "$min" | cut -c1-12)
      cp "$min" "$dst"
      line="$line; finding $a -> $dst"
    done
  else
    line="$line; nothing found"
  fi
  summary+=("$line")
done
echo "== fuzz.sh summary ($minutes min per target)"
printf '%s\n' "${summary[@]}"
exit $found_any
