#!/usr/bin/env bash
# Prints the table of a model of real size (examples/bench_scale): load time, prefill of a
# P-token prompt in one run of the P-token chunk, decode tokens/s at context P, memory
# held against weights + KV + arenas, peak resident set, and decode against the copy
# bandwidth, for the CPU on 1 and 2 threads and for Vulkan (lavapipe when there is no
# GPU), each configuration in its own process. The TinyLlama-shaped file is generated
# into DIR (default a temporary folder, removed at the end) unless MODEL names one.
#
#   tools/bench/bench_scale.sh [BUILD_DIR (build)] [TYPE q4_0|q8_0|f16 (q4_0)] [P (512)]
#                              [D (16)] [CONFIGS ("cpu1 cpu2 vulkan")]
#   MODEL=FILE.gguf LAYERS=N (gen_model --layers, default all 22) as environment variables.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
type=${2:-q4_0}
p=${3:-512}
d=${4:-16}
configs=${5:-"cpu1 cpu2 vulkan"}
bench=$build/examples/bench_scale/bench_scale
gen=$build/models/gen_model/gen_model
[ -x "$bench" ] || { echo "no $bench: build first" >&2; exit 1; }
model=${MODEL:-}
if [ -z "$model" ]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  model=$dir/tinyllama-$type.gguf
  layers=()
  [ -n "${LAYERS:-}" ] && layers=(--layers "$LAYERS")
  t0=$(date +%s)
  "$gen" --preset tinyllama-1.1b --type "$type" --ctx $((p + d)) "${layers[@]}" "$model" >&2
  echo "generated $model in $(( $(date +%s) - t0 )) s" >&2
fi
header=--header
for c in $configs; do
  case $c in
    cpu1) args=(--backend cpu --threads 1) ;;
    cpu2) args=(--backend cpu --threads 2) ;;
    vulkan) args=(--backend vulkan) ;;
    *) echo "unknown configuration $c (cpu1 cpu2 vulkan)" >&2; exit 2 ;;
  esac
  "$bench" "$model" "${args[@]}" --prompt "$p" --decode "$d" $header || echo "$c: failed"
  header=
done
