#!/bin/sh
# Reproduces assets/stories260K-gated.gguf and assets/aidreams260K-gated.gguf with their
# vectors (assets/README.md section 8). Run from the repository root after building
# (build/); needs Debian's /usr/bin/python3 with python3-torch and ../shared/data.
# About 8 minutes of training per model on a busy shared 2-core machine, plus the samples,
# and 11 more for stories260K-gated-lora (rank-8 corrections of the base weights).
set -e
PY=/usr/bin/python3
G=build/examples/generate/generate
C=build/models/convert_llama2c/convert_llama2c
R=tools/train/runs/retrofit
D=../shared/data
mkdir -p $R
$C $D/stories260K.bin $D/tok512.bin $R/stories260K.gguf
$C $D/aidreams260K.bin $D/tok512_aidreams.bin $R/aidreams260K.gguf
# the teacher's own samples: training seeds 1.., validation seeds 1001..
tools/train/teacher_samples.sh $G $R/stories260K.gguf $R/stories/train 1 48 500
tools/train/teacher_samples.sh $G $R/stories260K.gguf $R/stories/val 1001 20 500
tools/train/teacher_samples.sh $G $R/aidreams260K.gguf $R/aidreams/train 1 60 127
tools/train/teacher_samples.sh $G $R/aidreams260K.gguf $R/aidreams/val 1001 20 127
for m in stories aidreams; do
  $PY tools/train/retrofit.py train --base $R/${m}260K.gguf --samples $R/$m/train \
      --out $R/$m-run --steps 200 --batch 4 --soft-frac 0 --temp0 1.0 --temp1 0.1 \
      --gate-bias0 2 --halt-bias0 -3 --halt-first 2 --target-head-skip 0.32 \
      --target-tok-skip 0.2 --lam0 0.2 --dual-lr 0.05
  $PY tools/train/retrofit.py eval --base $R/${m}260K.gguf --samples $R/$m/val \
      --ckpt $R/$m-run/gates.pt --points 0.3,0.5 0.5,0.5 0.6,0.5 --out $R/$m-run/eval.json
done
# the same gates with rank-8 low-rank corrections of the seven matrices of every block,
# trained with them against the base model (reported separately; merged on export)
$PY tools/train/retrofit.py train --base $R/stories260K.gguf --samples $R/stories/train \
    --out $R/lora-A --steps 350 --batch 4 --soft-frac 0 --temp0 1.0 --temp1 0.1 \
    --gate-bias0 2 --halt-bias0 -3 --halt-first 2 --target-head-skip 0.30 \
    --target-tok-skip 0.18 --lam0 0.2 --dual-lr 0.05 --lam-cap 4 --lora-rank 8
$PY tools/train/retrofit.py eval --base $R/stories260K.gguf --samples $R/stories/val \
    --ckpt $R/lora-A/gates.pt --points 0.3,0.5 0.4,0.5 0.5,0.5 0.6,0.5 --out $R/lora-A/eval.json
$PY tools/train/retrofit.py export --base $R/stories260K.gguf --ckpt $R/lora-A/gates.pt \
    --out assets/stories260K-gated-lora.gguf --name stories260K-gated-lora --seeds 1-48
$PY tools/train/retrofit.py vectors --base $R/stories260K.gguf --ckpt $R/lora-A/gates.pt \
    --samples $R/stories/val --out assets/stories260K-gated-lora-vectors.json \
    --model-name stories260K-gated-lora.gguf
$PY tools/train/retrofit.py export --base $R/stories260K.gguf --ckpt $R/stories-run/gates.pt \
    --out assets/stories260K-gated.gguf --name stories260K-gated --seeds 1-48
$PY tools/train/retrofit.py vectors --base $R/stories260K.gguf --ckpt $R/stories-run/gates.pt \
    --samples $R/stories/val --out assets/stories260K-gated-vectors.json \
    --model-name stories260K-gated.gguf
$PY tools/train/retrofit.py export --base $R/aidreams260K.gguf --ckpt $R/aidreams-run/gates.pt \
    --out assets/aidreams260K-gated.gguf --name aidreams260K-gated --seeds 1-60
$PY tools/train/retrofit.py vectors --base $R/aidreams260K.gguf --ckpt $R/aidreams-run/gates.pt \
    --samples $R/aidreams/val --out assets/aidreams260K-gated-vectors.json \
    --model-name aidreams260K-gated.gguf --prompts "The robot" "Once upon a time" --excerpt 32
