#!/usr/bin/env bash
# Prints the shipped gated model's table of work removed for good: attention sublayers
# dropped, heads pruned statically, and attention replaced by a distilled recurrence.
# For each row: bits per character over the whole validation split (generate --eval on the
# CPU, gates on), and decode tokens/s on the CPU and Vulkan backends (tokens per second of
# wall time, and per CPU-second, medians of REPEATS runs of N tokens, seed 1).
#
# The drop order and the head ranking come from tools/importance on the first 2,048
# characters of the training text (gates off); the k heads pruned are the k least
# important. The mixer rows are assets/gated-shakespeare-rec.gguf (blocks of lowest mean
# attention entropy replaced) and MIX_DENSEST (the densest blocks replaced by the same
# recipe; tools/train/distill.py, assets/README.md section 9).
#
#   tools/bench/gated_table.sh [BUILD_DIR] [N] [REPEATS] [ROWS]
# (defaults: build 120 3 all; ROWS: all, or one of drop, prune, mix, with the full model)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
n=${2:-120}
repeats=${3:-3}
rows=${4:-all}
gen=$build/examples/generate/generate
imp=$build/models/importance/importance
text=../shared/data/tinyshakespeare.txt
model=assets/gated-shakespeare.gguf
mix=assets/gated-shakespeare-rec.gguf
mix_densest=${MIX_DENSEST:-tools/train/runs/mix-densest/gated-shakespeare-rec-densest.gguf}
[ -x "$gen" ] && [ -x "$imp" ] || { echo "no $gen or $imp: build first" >&2; exit 1; }
[ -f "$text" ] || { echo "no $text" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$imp" -m "$model" --text "$text" --max-tokens 2048 --backend cpu --threads 1 --drop 3 \
    --drop-out "$tmp/drop.txt" > "$tmp/imp.txt"
order=$(cat "$tmp/drop.txt")
# "block L head H" lines of ranking (b), least important first
awk '/^  block [0-9]+ head [0-9]+ / {print $2, $4}' "$tmp/imp.txt" > "$tmp/heads.txt"
mask() { # k -> a static head mask file pruning the k least important heads
  awk -v k="$1" 'NR == FNR { if (FNR <= k) off[$1 " " $2] = 1; next }
    END { print "# static head mask: 4 layers x 4 heads, 0 = pruned"
          for (l = 0; l < 4; l++) { s = ""; for (h = 0; h < 4; h++) s = s (h ? " " : "") \
              (((l " " h) in off) ? 0 : 1); print s } }' "$tmp/heads.txt" /dev/null \
    > "$tmp/mask$1.txt"
  echo "$tmp/mask$1.txt"
}

one() { # "WALL CPU" tokens/s of one decode run
  "$gen" "$@" 2>&1 >/dev/null | awk '
    /^generated .* tokens\/s$/ { w = $(NF - 1) }
    /^CPU time .* tokens per CPU-second$/ { c = $(NF - 3) }
    END { print (w == "" ? "failed" : w), (c == "" ? "failed" : c) }'
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : "failed")}'; }
speed() { # backend args... -> "wall (cpu)"
  local be=$1
  shift
  local runs
  runs=$(for i in $(seq "$repeats"); do one "$@" --backend "$be" -n "$n" --seed 1; done)
  echo "$(echo "$runs" | awk '{print $1}' | median) ($(echo "$runs" | awk '{print $2}' | median))"
}
row() { # label args...
  local label=$1
  shift
  local bpc
  bpc=$("$gen" "$@" --backend cpu --eval "$text" 2>&1 |
        awk '/^bits per character/ { for (i = 1; i < NF; i++) if ($i ~ /\):$/) print $(i + 1) }')
  printf '| %s | %s | %s | %s |\n' "$label" "${bpc:-failed}" "$(speed cpu "$@")" \
      "$(speed vulkan "$@")"
}

echo "drop order (1 - cos, least important first): $order; heads, least important first:" \
    "$(awk '{printf "%sb%sh%s", (NR > 1 ? " " : ""), $1, $2}' "$tmp/heads.txt")"
echo "| model | bits per character | decode tok/s CPU (per CPU-s) | decode tok/s Vulkan (per CPU-s) |"
echo "|---|---|---|---|"
row "full gated model" -m "$model"
IFS=, read -r -a blocks <<< "$order"
[ "$rows" = all ] || [ "$rows" = drop ] || blocks=()
list=""
for b in "${blocks[@]}"; do
  list=${list:+$list,}$b
  row "attention of blocks $list dropped" -m "$model" --drop-attn "$list"
done
ks=(2 4 6 8)
[ "$rows" = all ] || [ "$rows" = prune ] || ks=()
for k in "${ks[@]}"; do
  row "$k of 16 heads pruned" -m "$model" --head-mask "$(mask $k)"
done
[ "$rows" = all ] || [ "$rows" = mix ] || exit 0
# The recurrences' blocks (skim.mixer.layers of the two files), dropped instead, beside them.
row "attention of blocks 1,2 dropped (lowest attention entropy)" -m "$model" --drop-attn 1,2
[ -f "$mix" ] && row "recurrence in blocks 1,2 ($mix)" -m "$mix"
row "attention of blocks 0,3 dropped (highest attention entropy)" -m "$model" --drop-attn 0,3
[ -f "$mix_densest" ] && row "recurrence in blocks 0,3 (densest)" -m "$mix_densest"
exit 0
