#!/bin/sh
# Reproduces assets/gated-shakespeare.gguf, assets/metrics.json and assets/vectors.json.
# Run from the repository root; needs Debian's /usr/bin/python3 with python3-torch and
# ../shared/data/tinyshakespeare.txt. About 35 minutes on one core (one thread).
set -e
PY=/usr/bin/python3
R=tools/train/runs/gated
mkdir -p $R
# stage 1 (steps 0-2300): dense phase (0-800), noisy soft gates (800-1800),
# straight-through hard gates (1800-2300); schedule of a 4000-step run
$PY tools/train/train_gated.py --steps 4000 --seed 1234 --stop-at 2300 --out $R
# stage 2 (2300-4000): head gates straight-through hard; halting by binary-concrete
# samples, temperature 0.5 -> 0.05; faster dual ascent
$PY tools/train/train_gated.py --steps 4000 --seed 1234 --resume --dual-lr 0.02 --lam-cap 5 \
    --concrete-from 2300 --temp0 0.5 --temp1 0.05 --out $R
# stage 3 (4000-4700): lower targets, temperature 0.05 -> 0.03
$PY tools/train/train_gated.py --steps 4700 --seed 1234 --resume --dual-lr 0.02 --lam-cap 5 \
    --concrete-from 2300 --temp0 0.05 --temp1 0.03 --target-tok-skip 0.235 \
    --target-head-skip 0.29 --out $R
$PY tools/train/eval.py --ckpt $R/final.pt --out assets/metrics.json
$PY tools/train/export.py --ckpt $R/final.pt --out assets/gated-shakespeare.gguf
$PY tools/train/make_vectors.py --ckpt $R/final.pt --out assets/vectors.json
$PY tools/train/check_gguf.py
