#!/usr/bin/env bash
# Reruns assets/README.md section 9: the attention entropies, the distillation of the two
# sparsest and (for the comparison) the two densest blocks into recurrences, the export of
# both (the sparsest one is the shipped asset), the vectors, and the evaluation printed
# by each training run. About 25 minutes on one busy core per run; the two runs go side
# by side. Run from anywhere; writes under tools/train/runs/ and assets/.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=/usr/bin/python3
d=tools/train/distill.py
nice -n 10 $py $d entropy
for c in sparsest densest; do
  nice -n 10 $py $d train --layers $c --k 2 --layer-steps 250 --finetune-steps 120 \
      --out tools/train/runs/mix-$c > tools/train/runs/mix-$c.out 2>&1 &
done
wait
tail -n 1 tools/train/runs/mix-*.out
$py $d export --ckpt tools/train/runs/mix-sparsest/mix.pt --gguf assets/gated-shakespeare-rec.gguf
$py $d vectors --ckpt tools/train/runs/mix-sparsest/mix.pt \
    --vectors assets/gated-shakespeare-rec-vectors.json
$py $d export --ckpt tools/train/runs/mix-densest/mix.pt --name gated-shakespeare-rec-densest \
    --gguf tools/train/runs/mix-densest/gated-shakespeare-rec-densest.gguf
