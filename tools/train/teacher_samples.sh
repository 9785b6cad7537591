#!/bin/sh
# Teacher samples for retrofit.py: text that a dense llama-family model generates itself
# with skim's generate (from BOS alone, temperature 1, no top-p cut: its own
# distribution), one file per seed. Training and validation use different seeds.
#
#   tools/train/teacher_samples.sh GENERATE MODEL.gguf OUT_DIR FIRST_SEED COUNT N_TOKENS
set -e
gen=$1 model=$2 out=$3 first=$4 count=$5 n=$6
mkdir -p "$out"
i=0
while [ $i -lt "$count" ]; do
  seed=$((first + i))
  # --trace: the (empty) prompt as one decode step, not a prefill of the whole window
  "$gen" -m "$model" --backend cpu --prompt "" --temp 1 --top-p 1 --seed $seed -n "$n" \
      --trace "$out/.trace.svg" > "$out/$seed.txt" 2> /dev/null
  i=$((i + 1))
done
rm -f "$out/.trace.svg"
