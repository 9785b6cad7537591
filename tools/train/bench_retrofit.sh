#!/usr/bin/env bash
# Decode speed of a retrofitted model, gates on at each operating point (tau_g,tau_h) and
# --dense, on each backend, as examples/generate reports it: tokens per second of wall
# time and tokens per CPU-second (all threads, lavapipe's included), each the median of
# REPEATS runs of N tokens (seed 1, prompt "Once upon a time"), the configurations
# interleaved within each repeat so that a busy machine disturbs them alike. The prompt
# goes in as decode steps (--trace), not as a prefill run padded to the whole window
# (512 positions for stories260K); that time is not in the decode rate either way.
#
#   tools/train/bench_retrofit.sh GENERATE MODEL.gguf N REPEATS TG,TH [TG,TH ...]
set -euo pipefail
gen=$1 model=$2 n=$3 repeats=$4
shift 4
configs=(dense "$@")
trace=$(mktemp --suffix=.svg)
trap 'rm -f "$trace"' EXIT
declare -A wall cpu
for r in $(seq "$repeats"); do
  for be in cpu vulkan; do
    for c in "${configs[@]}"; do
      if [ "$c" = dense ]; then extra=(--dense); else extra=(--tau-g "${c%,*}" --tau-h "${c#*,}"); fi
      out=$("$gen" -m "$model" --backend $be -n "$n" --seed 1 --prompt "Once upon a time" \
            --trace "$trace" "${extra[@]}" 2>&1 >/dev/null || true)
      w=$(echo "$out" | awk '/^generated .* tokens\/s$/ {print $(NF - 1)}')
      u=$(echo "$out" | awk '/^CPU time .* tokens per CPU-second$/ {print $(NF - 3)}')
      wall[$be,$c]+="${w:-nan} "
      cpu[$be,$c]+="${u:-nan} "
      echo "run $r $be $c: ${w:-nan} tokens/s, ${u:-nan} tokens per CPU-second" >&2
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : "nan")}'; }
printf '%-8s %-10s %10s %18s\n' backend gates tokens/s tokens/CPU-second
for be in cpu vulkan; do
  for c in "${configs[@]}"; do
    printf '%-8s %-10s %10s %18s\n' $be "$c" "$(echo ${wall[$be,$c]} | median)" \
      "$(echo ${cpu[$be,$c]} | median)"
  done
done
