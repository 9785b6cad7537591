#!/usr/bin/python3
"""Trains the gated character model of assets/README.md on Tiny Shakespeare.

Recipe (assets/README.md tells how it was run and what came out):
  phase 1 (dense):  gates off, plain LM training;
  phase 2 (soft):   head outputs x sigmoid(gate logit + logistic noise); residual updates
                    x the running probability prod(1 - p_halt) (noisy); the same running
                    probability masks keys softly (exactly softmax(s + log r));
  phase 3 (hard):   straight-through hard gates at the inference thresholds (no noise);
  every 4th step dense throughout phases 2 and 3; penalty weights on executed head-ops and
  on executed token-layer ops set by dual ascent towards target skip rates.
With --ungated the whole run is phase 1 (the ungated baseline).

Usage (Debian's python3 with python3-torch):
  /usr/bin/python3 tools/train/train_gated.py --steps 3000 --out tools/train/runs/gated
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
from model import Config, GatedLM, load_text  # noqa: E402


def get_batch(data, B, T, gen):
    ix = torch.randint(0, len(data) - T - 1, (B,), generator=gen)
    x = torch.stack([data[i:i + T] for i in ix.tolist()])
    y = torch.stack([data[i + 1:i + 1 + T] for i in ix.tolist()])
    return x, y


@torch.no_grad()
def quick_val(model, val, T, n_win=24):
    """bpc on n_win evenly spaced windows of the validation split, gates on and off."""
    starts = torch.linspace(0, len(val) - T - 2, n_win).long().tolist()
    x = torch.stack([val[s:s + T] for s in starts])
    y = torch.stack([val[s + 1:s + 1 + T] for s in starts])
    out = {}
    for gates in (True, False):
        logits, tok, head, _, _ = model.forward_infer(x, gates=gates)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        out["bpc_gated" if gates else "bpc_dense"] = float(ce) / math.log(2)
        if gates:
            out["tok_skip"] = 1.0 - float(tok.float().mean())
            out["head_skip"] = 1.0 - float(head.float().sum()) / (float(tok.float().sum()) * model.cfg.n_head)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--dense-frac", type=float, default=0.2)
    ap.add_argument("--soft-frac", type=float, default=0.25)
    ap.add_argument("--target-tok-skip", type=float, default=0.27)
    ap.add_argument("--target-head-skip", type=float, default=0.33)
    ap.add_argument("--dual-lr", type=float, default=0.01)
    ap.add_argument("--lam-cap", type=float, default=2.0)
    ap.add_argument("--concrete-from", type=int, default=None,
                    help="from this step on, halting uses binary-concrete samples whose "
                         "temperature falls geometrically from --temp0 to --temp1")
    ap.add_argument("--temp0", type=float, default=0.5)
    ap.add_argument("--temp1", type=float, default=0.05)
    ap.add_argument("--ungated", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="tools/train/runs/gated")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop after this step (its checkpoint saved); the schedule still "
                         "follows --steps")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--ckpt-every", type=int, default=100)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    chars, stoi, train, val = load_text()
    cfg = Config(vocab=len(chars), ctx=args.ctx, gated=not args.ungated)
    model = GatedLM(cfg)

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() == 2 and "gate" not in n and "halt" not in n else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(args.seed)
    lam_tok, lam_head = 0.0, 0.0
    step0 = 0
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        torch.set_rng_state(ck["rng"])
        lam_tok, lam_head, step0 = ck["lam_tok"], ck["lam_head"], ck["step"]
        print(f"resumed at step {step0}", flush=True)

    N = args.steps
    n_dense = int(args.dense_frac * N)
    n_soft = int(args.soft_frac * N)
    warm = 100
    tgt_tok = 1.0 - args.target_tok_skip
    tgt_head = 1.0 - args.target_head_skip

    def save(step, final=False):
        ck = {"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
              "rng": torch.get_rng_state(), "lam_tok": lam_tok, "lam_head": lam_head,
              "step": step, "cfg": vars(cfg), "chars": chars, "args": vars(args)}
        torch.save(ck, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)
        if final:
            torch.save({"model": model.state_dict(), "cfg": vars(cfg), "chars": chars,
                        "args": vars(args), "step": step},
                       os.path.join(args.out, "final.pt"))

    t0 = time.time()
    ema = {}
    for step in range(step0, N):
        lr = args.lr * min(1.0, (step + 1) / warm)
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / N))
        for gr in opt.param_groups:
            gr["lr"] = lr
        if args.ungated or step < n_dense or step % 4 == 3:
            mode = "dense"
        elif step < n_dense + n_soft:
            mode = "soft"
        else:
            mode = "hard"
        x, y = get_batch(train, args.batch, args.ctx, gen)
        model.train()
        temp = None
        if mode == "hard" and args.concrete_from is not None and step >= args.concrete_from:
            frac = (step - args.concrete_from) / max(1, N - 1 - args.concrete_from)
            temp = args.temp0 * (args.temp1 / args.temp0) ** frac
        logits, st = model.forward_train(x, mode, halt_temp=temp)
        ce = F.cross_entropy(logits.reshape(-1, cfg.vocab), y.reshape(-1))
        loss = ce
        if mode != "dense":
            loss = loss + lam_tok * st["exec_tok"] + lam_head * st["exec_head"]
            # dual ascent on the measured (hard) executed fractions
            lam_tok = min(args.lam_cap, max(0.0, lam_tok + args.dual_lr * (st["hard_exec_tok"] - tgt_tok)))
            lam_head = min(args.lam_cap, max(0.0, lam_head + args.dual_lr * (st["hard_exec_head"] - tgt_head)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

        key = mode
        ema[key + "_ce"] = 0.95 * ema.get(key + "_ce", float(ce)) + 0.05 * float(ce)
        if mode != "dense":
            for k in ("hard_exec_tok", "hard_exec_head"):
                ema[k] = 0.9 * ema.get(k, st[k]) + 0.1 * st[k]
        if (step + 1) % args.log_every == 0 or step == step0:
            el = time.time() - t0
            msg = {"step": step + 1, "mode": mode, "lr": round(lr, 6),
                   "ce": {k: round(v, 4) for k, v in ema.items() if k.endswith("_ce")},
                   "tok_skip": round(1 - ema.get("hard_exec_tok", 1.0), 3),
                   "head_skip": round(1 - ema.get("hard_exec_head", 1.0), 3),
                   "lam_tok": round(lam_tok, 4), "lam_head": round(lam_head, 4),
                   "halt_temp": None if temp is None else round(temp, 4),
                   "s_per_step": round(el / (step + 1 - step0), 3)}
            print(json.dumps(msg), flush=True)
        if (step + 1) % args.val_every == 0 or step + 1 == N:
            model.eval()
            v = quick_val(model, val, args.ctx)
            print(json.dumps({"step": step + 1, "val": {k: round(x, 4) for k, x in v.items()}}),
                  flush=True)
        if (step + 1) % args.ckpt_every == 0 or step + 1 == N:
            save(step + 1, final=(step + 1 == N))
        if args.stop_at is not None and step + 1 >= args.stop_at:
            save(step + 1)
            break
    print(f"done in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
