#!/usr/bin/python3
"""Writes assets/vectors.json: test vectors for the C forward (assets/README.md section 7).

For each fixed prompt: the token ids, and from the PyTorch forward in the exact inference
semantics, gates on ("gated") and gates off ("dense"): the logits at every position, and
for the gated run per block the active-token mask, per (block, token) the active-head
mask, the halting probabilities and the head-gate probabilities.

  /usr/bin/python3 tools/train/make_vectors.py [--ckpt tools/train/runs/gated/final.pt]
      [--out assets/vectors.json]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_model  # noqa: E402
from model import load_text  # noqa: E402

VAL_EXCERPT_OFFSET = 2000  # into the validation split
VAL_EXCERPT_LEN = 100


def fmt(v, digits):
    return float(f"{float(v):.{digits}g}")


def vector_entry(forward_infer, ids, L, tau_g, tau_h, halt_first, digits):
    """{"gated": ..., "dense": ...} of one prompt (section 7) from a forward_infer."""
    x = torch.tensor([ids])
    entry = {}
    for gates in (True, False):
        logits, tok, head, p, g = forward_infer(x, gates=gates)
        d = {"logits": [[fmt(v, digits) for v in row] for row in logits[0].tolist()]}
        if gates:
            d["token_active"] = [[int(b) for b in tok[l, 0].tolist()] for l in range(L)]
            d["head_active"] = [[[int(b) for b in head[l, 0, t].tolist()]
                                 for t in range(len(ids))] for l in range(L)]
            d["p_halt"] = [[fmt(v, 6) for v in p[l, 0].tolist()] for l in range(L)]
            d["head_gate"] = [[[fmt(v, 6) for v in g[l, 0, t].tolist()]
                               for t in range(len(ids))] for l in range(L)]
            # how close the nearest decision is to its threshold (gates of running
            # tokens; halts of tokens that were running before the block)
            margins = []
            for l in range(L):
                run = tok[l, 0]
                prev = tok[l - 1, 0] if l > 0 else torch.ones_like(run)
                margins += (g[l, 0][run] - tau_g).abs().flatten().tolist()
                if l >= halt_first:
                    margins += (p[l, 0][prev] - tau_h).abs().tolist()
            d["min_decision_margin"] = fmt(min(margins), 6)
            d["token_layer_ops_executed"] = int(tok[:, 0].sum())
            d["head_ops_executed"] = int(head[:, 0].sum())
        entry["gated" if gates else "dense"] = d
    return entry


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="tools/train/runs/gated/final.pt")
    ap.add_argument("--out", default="assets/vectors.json")
    ap.add_argument("--tau-g", type=float, default=None, help="head threshold to ship")
    ap.add_argument("--tau-h", type=float, default=None, help="halt threshold to ship")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, chars, _ = load_model(args.ckpt)
    if args.tau_g is not None:
        model.cfg.tau_g = args.tau_g
    if args.tau_h is not None:
        model.cfg.tau_h = args.tau_h
    cfg = model.cfg
    stoi = {c: i for i, c in enumerate(chars)}
    _, _, _, val = load_text()
    excerpt = "".join(chars[i] for i in val[VAL_EXCERPT_OFFSET:VAL_EXCERPT_OFFSET + VAL_EXCERPT_LEN])
    prompts = ["ROMEO:", "First Citizen:\nBefore we proceed", excerpt]
    out = {
        "model": "gated-shakespeare.gguf",
        "semantics": "assets/README.md section 3; positions 0..n-1; logits at every position",
        "tau_g": cfg.tau_g, "tau_h": cfg.tau_h,
        "n_vocab": cfg.vocab, "n_layer": cfg.n_layer, "n_head": cfg.n_head,
        "logit_digits": 8,
        "prompts": [],
    }
    for text in prompts:
        ids = [stoi[c] for c in text]
        entry = {"text": text, "tokens": ids}
        entry.update(vector_entry(model.forward_infer, ids, cfg.n_layer, cfg.tau_g, cfg.tau_h, 1, 8))
        out["prompts"].append(entry)
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    for e in out["prompts"]:
        gd = e["gated"]
        print(repr(e["text"][:30]), len(e["tokens"]), "tokens; token-layer ops",
              gd["token_layer_ops_executed"], "of", len(e["tokens"]) * cfg.n_layer,
              "; head-ops", gd["head_ops_executed"], "; min margin", gd["min_decision_margin"])


if __name__ == "__main__":
    main()
