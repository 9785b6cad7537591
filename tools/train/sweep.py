#!/usr/bin/python3
"""Threshold sweep on the first 1/k of the validation split (k = --every): bpc gated vs dense
and the fractions skipped, for choosing the thresholds stored in the GGUF.

  /usr/bin/python3 tools/train/sweep.py --ckpt tools/train/runs/gated_c/final.pt
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_model  # noqa: E402
from eval import evaluate  # noqa: E402
from model import load_text  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--every", type=int, default=8)
    ap.add_argument("--tau-g", default="0.5")
    ap.add_argument("--tau-h", default="0.5,0.6,0.7,0.8,0.9")
    args = ap.parse_args()
    torch.set_num_threads(1)
    _, _, _, val = load_text()
    model, _, _ = load_model(args.ckpt)
    idx = val[:len(val) // args.every + 1]  # a contiguous part of the validation split
    d = evaluate(model, idx, False)
    print(f"dense bpc {d['bpc']:.4f}")
    for tg in [float(v) for v in args.tau_g.split(",")]:
        for th in [float(v) for v in args.tau_h.split(",")]:
            model.cfg.tau_g, model.cfg.tau_h = tg, th
            g = evaluate(model, idx, True)
            print(f"tau_g {tg:.2f} tau_h {th:.2f}: bpc {g['bpc']:.4f} ({100 * (g['bpc'] / d['bpc'] - 1):+.2f}%), "
                  f"token-layer skip {g['token_layer_ops_skipped']:.3f}, head skip {g['head_ops_skipped']:.3f}, "
                  f"per block {g['tokens_executed_per_block']}", flush=True)


if __name__ == "__main__":
    main()
