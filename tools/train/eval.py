#!/usr/bin/python3
"""Evaluates the gated model over the WHOLE validation split (last 10% of
tinyshakespeare.txt) in non-overlapping windows of the context length (the last, shorter
window included), in the inference semantics of assets/README.md: hard gates (skip
semantics) and gates off. Counts work as in README section 4.

  /usr/bin/python3 tools/train/eval.py [--ckpt tools/train/runs/gated/final.pt]
      [--baseline tools/train/runs/ungated/final.pt] [--out assets/metrics.json]
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_model  # noqa: E402
from model import load_text  # noqa: E402


@torch.no_grad()
def evaluate(model, val, gates, batch=32):
    T = model.cfg.ctx
    L, H = model.cfg.n_layer, model.cfg.n_head
    n_pred = len(val) - 1
    starts = list(range(0, n_pred, T))
    nll = 0.0
    n_tok = 0
    tok_exec = torch.zeros(L)       # tokens running each block
    head_exec = torch.zeros(L, H)   # (token, head) pairs run, per block and head
    groups = {}
    for s in starts:
        groups.setdefault(min(T, n_pred - s), []).append(s)
    for w, ss in groups.items():
        for i in range(0, len(ss), batch):
            chunk = ss[i:i + batch]
            x = torch.stack([val[s:s + w] for s in chunk])
            y = torch.stack([val[s + 1:s + 1 + w] for s in chunk])
            logits, tok, head, _, _ = model.forward_infer(x, gates=gates)
            nll += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                         reduction="sum"))
            n_tok += y.numel()
            tok_exec += tok.float().sum((1, 2))
            head_exec += head.float().sum((1, 2))
    dense_tl = n_tok * L
    r = {
        "bpc": nll / n_tok / math.log(2),
        "n_tokens": n_tok,
        "n_windows": len(starts),
        "token_layer_ops_executed": int(tok_exec.sum()),
        "token_layer_ops_dense": dense_tl,
        "token_layer_ops_skipped": 1.0 - float(tok_exec.sum()) / dense_tl,
        "head_ops_executed": int(head_exec.sum()),
        "head_ops_among_running": int(tok_exec.sum()) * H,
        "head_ops_skipped": 1.0 - float(head_exec.sum()) / (float(tok_exec.sum()) * H),
        "head_ops_skipped_incl_halted": 1.0 - float(head_exec.sum()) / (dense_tl * H),
        "tokens_executed_per_block": [round(float(v) / n_tok, 4) for v in tok_exec],
        "head_active_fraction_per_block_head": [[round(float(v) / max(float(tok_exec[l]), 1), 4)
                                                 for v in head_exec[l]] for l in range(L)],
    }
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="tools/train/runs/gated/final.pt")
    ap.add_argument("--baseline", default="tools/train/runs/ungated/final.pt")
    ap.add_argument("--out", default="assets/metrics.json")
    ap.add_argument("--tau-g", type=float, default=None, help="override the head threshold")
    ap.add_argument("--tau-h", type=float, default=None, help="override the halt threshold")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    _, _, _, val = load_text()
    model, chars, ck = load_model(args.ckpt)
    if args.tau_g is not None:
        model.cfg.tau_g = args.tau_g
    if args.tau_h is not None:
        model.cfg.tau_h = args.tau_h
    gated = evaluate(model, val, True)
    dense = evaluate(model, val, False)
    out = {
        "checkpoint": os.path.relpath(args.ckpt), "train_step": ck.get("step"),
        "train_args": ck.get("args"),
        "tau_g": model.cfg.tau_g, "tau_h": model.cfg.tau_h,
        "validation": "last 10%% of tinyshakespeare.txt, %d predicted characters, "
                      "non-overlapping windows of %d" % (dense["n_tokens"], model.cfg.ctx),
        "bpc_gated": gated["bpc"], "bpc_dense": dense["bpc"],
        "bpc_gated_vs_dense": gated["bpc"] / dense["bpc"] - 1.0,
        "token_layer_ops_skipped": gated["token_layer_ops_skipped"],
        "head_ops_skipped": gated["head_ops_skipped"],
        "head_ops_skipped_incl_halted": gated["head_ops_skipped_incl_halted"],
        "gated": gated, "dense": dense,
    }
    if args.baseline and os.path.exists(args.baseline):
        bm, _, bck = load_model(args.baseline)
        b = evaluate(bm, val, False)
        out["baseline_ungated"] = {"checkpoint": os.path.relpath(args.baseline),
                                   "train_step": bck.get("step"), "bpc": b["bpc"]}
        out["bpc_gated_vs_ungated_baseline"] = gated["bpc"] / b["bpc"] - 1.0
        out["bpc_dense_vs_ungated_baseline"] = dense["bpc"] / b["bpc"] - 1.0
    out["eval_seconds"] = round(time.time() - t0, 1)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    brief = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in out.items()
             if k not in ("gated", "dense", "train_args")}
    brief["tokens_executed_per_block"] = gated["tokens_executed_per_block"]
    print(json.dumps(brief, indent=1))


if __name__ == "__main__":
    main()
