#!/usr/bin/env bash
# Prints generation speed (decode through the KV cache, sampling and streaming included)
# of stories260K (converted from ../shared/data) and of the shipped gated model, gates on
# and --dense, on each backend, as examples/generate reports it: tokens per second of wall
# time, and tokens per CPU-second (the process's CPU time, all threads, lavapipe's
# included), which a busy shared machine disturbs much less. Each figure is the median of
# REPEATS runs of N tokens with a fixed seed. The default N,
# 120, keeps the gated model inside its trained window of 128 positions (prompt included):
# past it, generate refills the cache with the newest 64 tokens, one decode step each, and
# that refill time counts against the tokens/s it prints.
#
#   tools/bench/bench_models.sh [BUILD_DIR] [N] [REPEATS]     (defaults: build 120 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
n=${2:-120}
repeats=${3:-3}
gen=$build/examples/generate/generate
conv=$build/models/convert_llama2c/convert_llama2c
data=../shared/data
[ -x "$gen" ] || { echo "no $gen: build first" >&2; exit 1; }

models=("assets/gated-shakespeare.gguf")
stories=""
if [ -f "$data/stories260K.bin" ] && [ -x "$conv" ]; then
  stories=$(mktemp --suffix=.gguf)
  trap 'rm -f "$stories"' EXIT
  "$conv" "$data/stories260K.bin" "$data/tok512.bin" "$stories" > /dev/null
  models+=("$stories")
else
  echo "note: $data/stories260K.bin absent: gated model only" >&2
fi

# "WALL CPU" tokens per second of one run, from generate's closing lines
# "generated N tokens in T s: R tokens/s" and "CPU time C s (all threads): R tokens per
# CPU-second".
one() {
  "$gen" "$@" 2>&1 >/dev/null | awk '
    /^generated .* tokens\/s$/ { w = $(NF - 1) }
    /^CPU time .* tokens per CPU-second$/ { c = $(NF - 3) }
    END { print (w == "" ? "failed" : w), (c == "" ? "failed" : c) }'
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : "failed")}'; }

printf '%-20s %-7s %-7s %12s %18s\n' model backend gates 'tokens/s' 'tokens/CPU-second'
for m in "${models[@]}"; do
  name=gated-shakespeare
  [ "$m" = "$stories" ] && name=stories260K
  for be in cpu vulkan; do
    for mode in gated dense; do
      # stories260K has no gates: one row, "none"
      if [ "$name" = stories260K ] && [ $mode = dense ]; then continue; fi
      extra=()
      [ $mode = dense ] && extra=(--dense)
      label=$mode
      [ "$name" = stories260K ] && label=none
      runs=$(for i in $(seq "$repeats"); do
               one -m "$m" --backend $be -n "$n" --seed 1 "${extra[@]}"
             done)
      wall=$(echo "$runs" | awk '{print $1}' | median)
      cpu=$(echo "$runs" | awk '{print $2}' | median)
      printf '%-20s %-7s %-7s %12s %18s\n' "$name" "$be" "$label" "$wall" "$cpu"
    done
  done
done
