#!/usr/bin/python3
"""Retrofit mode: head gates and token halting added to a pretrained llama-family GGUF by a
short distillation, the base weights frozen (assets/README.md section 8).

  retrofit.py train   --base B.gguf --samples DIR --out RUN [--steps N ...]
  retrofit.py eval    --base B.gguf --samples DIR --ckpt RUN/gates.pt [--points ...]
                      [--calibrate HEAD,TOK ... --calib-samples DIR2]
  retrofit.py depth-cost --base B.gguf --samples DIR
  retrofit.py export  --base B.gguf --ckpt RUN/gates.pt --out assets/X.gguf
  retrofit.py vectors --base B.gguf --ckpt RUN/gates.pt --samples DIR --out assets/X.json

The student is the base model with a per-token head gate per block (sigmoid of a linear
map of the block's normalised input; bias +2, so every head runs at the start) and a
halting MLP before every block from --halt-first on (RMSNorm, Linear, GELU, Linear,
sigmoid; output bias -2, so no token halts at the start). Only the gates train. The
teacher is the same base model with the gates off. Loss: KL(teacher || student) of the
next-token distributions, plus lam_head x expected executed head-ops and lam_tok x
expected depth, the two weights set by dual ascent on the measured (hard, threshold)
executed fractions towards their targets. Schedule: noisy soft gates (logistic noise;
residual updates and keys weighted by the running probability), then straight-through
hard head gates with binary-concrete halting samples whose temperature falls
geometrically. Training text: the teacher's own samples (tools/train/teacher_samples.sh,
skim's generate), one file per seed, tokenised as skim does; validation: other seeds.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_writer as gw  # noqa: E402
from make_vectors import vector_entry  # noqa: E402
from retrofit_model import RetrofitLM, Tokenizer, read_llama_gguf  # noqa: E402


def load_samples(d, tok):
    """Token streams of every DIR/<seed>.txt, in seed order."""
    files = sorted(glob.glob(os.path.join(d, "*.txt")),
                   key=lambda p: int(os.path.basename(p)[:-4]))
    out = []
    for p in files:
        text = open(p, encoding="utf-8").read()
        text = text[:-1] if text.endswith("\n") else text  # generate ends with a newline
        out.append(tok.encode(text))
    return out


def windows(streams, T):
    """Consecutive windows of T tokens over the streams one after the other (each begins
    with BOS, as llama2.c's training data does); the shorter tail is dropped."""
    s = [t for st in streams for t in st]
    return torch.tensor([s[i:i + T] for i in range(0, len(s) - T + 1, T)], dtype=torch.long)


def build(args, kv, W, ck=None):
    cfg = ck["cfg"] if ck else {"halt_hidden": args.halt_hidden, "halt_first": args.halt_first,
                                "tau_g": 0.5, "tau_h": 0.5, "lora_rank": args.lora_rank}
    m = RetrofitLM(kv, W, halt_hidden=cfg["halt_hidden"], halt_first=cfg["halt_first"],
                   tau_g=cfg["tau_g"], tau_h=cfg["tau_h"], lora_rank=cfg.get("lora_rank", 0))
    if ck:
        m.load_state_dict(ck["gates"])
    else:
        with torch.no_grad():
            for l in range(m.n_layer):
                m.gate_b[l].fill_(args.gate_bias0)
            for k in m.halt_down_b:
                m.halt_down_b[k].fill_(args.halt_bias0)
    return m


# ---------------------------------------------------------------------------- train
def cmd_train(args):
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    kv, W = read_llama_gguf(args.base)
    tok = Tokenizer(kv)
    data = windows(load_samples(args.samples, tok), args.ctx)
    print(f"{len(data)} training windows of {args.ctx} tokens", flush=True)
    m = build(args, kv, W)
    lora = list(m.lora_A.parameters()) + list(m.lora_B.parameters())
    ids = {id(p) for p in lora}
    groups = [{"params": [p for p in m.parameters() if id(p) not in ids], "lr": args.lr}]
    if lora:
        groups.append({"params": lora, "lr": args.lora_lr})
    opt = torch.optim.Adam(groups)
    lr0s = [gp["lr"] for gp in opt.param_groups]
    gen = torch.Generator().manual_seed(args.seed)
    lam_tok, lam_head = args.lam0, args.lam0
    tgt_tok, tgt_head = 1.0 - args.target_tok_skip, 1.0 - args.target_head_skip
    n_soft = int(args.soft_frac * args.steps)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    ema = {}
    for step in range(args.steps):
        ix = torch.randint(0, len(data), (args.batch,), generator=gen)
        x = data[ix]
        mode = "soft" if step < n_soft else "hard"
        frac = max(0.0, (step - n_soft) / max(1, args.steps - 1 - n_soft))
        temp = args.temp0 * (args.temp1 / args.temp0) ** frac
        with torch.no_grad():
            m.lora_on = False  # the teacher: the base weights, gates off
            t_logits, _ = m.forward_train(x, "dense")
            m.lora_on = m.lora_rank > 0
            t_logp = F.log_softmax(t_logits, -1)
            t_p = t_logp.exp()
        s_logits, st = m.forward_train(x, mode, halt_temp=0.0 if args.halt_st else temp)
        s_logp = F.log_softmax(s_logits, -1)
        kl = (t_p * (t_logp - s_logp)).sum(-1).mean()
        loss = kl + lam_tok * st["exec_tok"] + lam_head * st["exec_head"]
        if args.margin_weight > 0:
            # hinge on the top-1 margin: the student's logit of the teacher's top-1 token
            # should lead every other by the teacher's own lead (capped at --margin)
            t_log = t_logits.detach()
            t2 = t_log.topk(2, -1)
            want = (t2.values[..., 0] - t2.values[..., 1]).clamp(max=args.margin)
            a = t2.indices[..., :1]
            sa = s_logits.gather(-1, a).squeeze(-1)
            other = s_logits.scatter(-1, a, float("-inf")).amax(-1)
            loss = loss + args.margin_weight * F.relu(want - (sa - other)).mean()
        if args.top1_weight > 0:  # cross-entropy to the teacher's top-1 token
            loss = loss + args.top1_weight * F.nll_loss(
                s_logp.reshape(-1, s_logp.shape[-1]), t_logp.argmax(-1).reshape(-1))
        if args.readout_weight > 0 or args.halt_label_kl > 0:
            # readouts of the residual stream before each block halting may skip: their KL
            # to the teacher as a loss, and as the halting MLPs' label (halt where stopping
            # keeps the top-1 token and costs under halt_label_kl nats)
            nm = len(st["x_mid"])
            for j, xm in enumerate(st["x_mid"]):
                rl = F.log_softmax(m.logits_of(xm), -1)
                rkl = (t_p * (t_logp - rl)).sum(-1)
                if args.readout_weight > 0:
                    loss = loss + args.readout_weight * rkl.mean() / nm
                if args.halt_label_kl > 0:
                    with torch.no_grad():
                        y = ((rkl < args.halt_label_kl) &
                             (rl.argmax(-1) == t_logp.argmax(-1))).float()
                    z = m.halt_logit(m.halt_first + j, xm.detach())
                    loss = loss + args.halt_label_weight * \
                        F.binary_cross_entropy_with_logits(z, y) / nm
        if args.cosine:  # learning rates fall to a tenth along a half cosine
            f = 0.1 + 0.45 * (1 + math.cos(math.pi * step / max(1, args.steps - 1)))
            for gp, lr0 in zip(opt.param_groups, lr0s):
                gp["lr"] = lr0 * f
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lam_tok = min(args.lam_cap, max(0.0, lam_tok + args.dual_lr * (st["hard_exec_tok"] - tgt_tok)))
        lam_head = min(args.lam_cap, max(0.0, lam_head + args.dual_lr * (st["hard_exec_head"] - tgt_head)))
        for k, v in (("kl", float(kl)), ("tok_skip", 1 - st["hard_exec_tok"]),
                     ("head_skip", 1 - st["hard_exec_head"])):
            ema[k] = 0.8 * ema.get(k, v) + 0.2 * v
        if (step + 1) % args.log_every == 0 or step == 0:
            print(json.dumps({"step": step + 1, "mode": mode, "temp": round(temp, 3),
                              **{k: round(v, 4) for k, v in ema.items()},
                              "lam_tok": round(lam_tok, 3), "lam_head": round(lam_head, 3),
                              "s": round(time.time() - t0, 1)}), flush=True)
    secs = time.time() - t0
    torch.save({"gates": m.state_dict(), "cfg": {"halt_hidden": m.halt_hidden,
                "halt_first": m.halt_first, "tau_g": 0.5, "tau_h": 0.5,
                "lora_rank": m.lora_rank},
                "args": vars(args), "train_seconds": round(secs, 1),
                "n_windows": len(data)}, os.path.join(args.out, "gates.pt"))
    print(f"done in {secs:.0f}s", flush=True)


# ---------------------------------------------------------------------------- eval
@torch.no_grad()
def evaluate(m, x, n_pos):
    """KL(dense || gated) in nats and top-1 agreement over the first n_pos positions of
    the windows x, and the skipped fractions (assets/README.md section 4) over them."""
    on = m.lora_on
    m.lora_on = False  # the dense model: the base weights as they were
    tl, _, _, _, _ = m.forward_infer(x, gates=False)
    m.lora_on = on
    sl, tok, head, _, _ = m.forward_infer(x, gates=True)
    V = tl.shape[-1]
    tl, sl = tl.reshape(-1, V)[:n_pos], sl.reshape(-1, V)[:n_pos]
    tp, sp = F.log_softmax(tl, -1), F.log_softmax(sl, -1)
    kl = (tp.exp() * (tp - sp)).sum(-1)
    extra = {}
    if on:  # the corrected weights alone, gates off
        cl = F.log_softmax(m.forward_infer(x, gates=False)[0].reshape(-1, V)[:n_pos], -1)
        extra = {"corrected_dense_kl_nats": float((tp.exp() * (tp - cl)).sum(-1).mean()),
                 "corrected_dense_top1": float((tl.argmax(-1) == cl.argmax(-1)).float().mean())}
    L, H = m.n_layer, m.n_head
    tok = tok.permute(1, 2, 0).reshape(-1, L)[:n_pos]               # [pos, L]
    head = head.permute(1, 2, 0, 3).reshape(-1, L, H)[:n_pos]       # [pos, L, H]
    run = float(tok.float().sum())
    return {"positions": int(kl.numel()), "kl_nats": float(kl.mean()),
            "top1_agreement": float((tl.argmax(-1) == sl.argmax(-1)).float().mean()),
            "token_layer_ops_skipped": 1 - run / (n_pos * L),
            "head_ops_skipped": 1 - float(head.float().sum()) / (run * H),
            "head_ops_skipped_incl_halted": 1 - float(head.float().sum()) / (n_pos * L * H),
            "tokens_executed_per_block": [round(v, 4) for v in tok.float().mean(0).tolist()],
            **extra}


@torch.no_grad()
def skipped(m, x, n_pos):
    """(head-ops skipped among running tokens, token-layer ops skipped) over the first
    n_pos positions of x, at m's thresholds."""
    _, tok, head, _, _ = m.forward_infer(x, gates=True)
    L, H = m.n_layer, m.n_head
    tok = tok.permute(1, 2, 0).reshape(-1, L)[:n_pos]
    head = head.permute(1, 2, 0, 3).reshape(-1, L, H)[:n_pos]
    run = float(tok.float().sum())
    return 1 - float(head.float().sum()) / max(run * H, 1.0), 1 - run / (n_pos * L)


def calibrate(m, x, n_pos, head_tgt, tok_tgt, iters=16):
    """Thresholds that skip at least head_tgt of the head-ops and tok_tgt of the
    token-layer ops on x (calibration samples, not the evaluation's), each as close to
    its target as bisection finds: the largest tau_h, then the smallest tau_g, twice
    (halting sees the gates' effect on the residual stream and the reverse)."""
    m.tau_g, m.tau_h = 0.5, 1.0
    for _ in range(2):
        if tok_tgt > 0:
            lo, hi = 0.0, 1.0  # token-layer ops skipped falls as tau_h rises
            for _ in range(iters):
                m.tau_h = (lo + hi) / 2
                lo, hi = (m.tau_h, hi) if skipped(m, x, n_pos)[1] >= tok_tgt else (lo, m.tau_h)
            m.tau_h = lo
        lo, hi = 0.0, 1.0  # head-ops skipped rises with tau_g
        for _ in range(iters):
            m.tau_g = (lo + hi) / 2
            lo, hi = (lo, m.tau_g) if skipped(m, x, n_pos)[0] >= head_tgt else (m.tau_g, hi)
        m.tau_g = hi
    return m.tau_g, m.tau_h


def cmd_eval(args):
    torch.set_num_threads(1)
    kv, W = read_llama_gguf(args.base)
    tok = Tokenizer(kv)
    x = windows(load_samples(args.samples, tok), args.ctx)
    need = math.ceil(args.positions / args.ctx)
    if len(x) < need:
        raise SystemExit(f"{len(x)} validation windows of {args.ctx}: {need} needed")
    x = x[:need]
    ck = torch.load(args.ckpt)
    m = build(args, kv, W, ck)
    out = {"checkpoint": os.path.relpath(args.ckpt), "train_seconds": ck.get("train_seconds"),
           "validation": f"{args.positions} positions: windows of {args.ctx} tokens of the "
                         f"teacher samples in {os.path.relpath(args.samples)}", "points": []}
    pts = [("points", pt) for pt in args.points] if not args.calibrate else []
    if args.calibrate:
        xc = windows(load_samples(args.calib_samples, tok), args.ctx)[:need]
        out["calibration"] = (f"thresholds by bisection on {args.positions} positions of "
                              f"{os.path.relpath(args.calib_samples)}")
        pts = [("calibrate", pt) for pt in args.calibrate]
    for how, pt in pts:
        a, b = (float(v) for v in pt.split(","))
        extra = {}
        if how == "calibrate":
            tg, th = calibrate(m, xc, args.positions, a, b)
            extra = {"target_head_skip": a, "target_tok_skip": b,
                     "calibration_skipped": [round(v, 4) for v in skipped(m, xc, args.positions)]}
        else:
            tg, th = a, b
        m.tau_g, m.tau_h = tg, th
        r = evaluate(m, x, args.positions)
        r = {"tau_g": round(tg, 6), "tau_h": round(th, 6), **extra, **r}
        out["points"].append(r)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}),
              flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")


@torch.no_grad()
def cmd_depth_cost(args):
    """What skipping can cost a frozen model, over the same positions as eval (KL and top-1
    agreement against the full model): every token stopping before block k (no gates);
    the least and the most costly single head turned off for every token; and an
    optimistic bound on halting (each token stops where its readout keeps the top-1)."""
    torch.set_num_threads(1)
    kv, W = read_llama_gguf(args.base)
    x = windows(load_samples(args.samples, Tokenizer(kv)), args.ctx)
    x = x[:math.ceil(args.positions / args.ctx)]
    m = RetrofitLM(kv, W, halt_first=kv["llama.block_count"])
    full, _, _, _, _ = m.forward_infer(x, gates=False)
    tp = F.log_softmax(full.reshape(-1, full.shape[-1])[:args.positions], -1)
    # an optimistic bound for halting on frozen weights: each position stops at the first
    # block k >= --halt-first whose cut readout keeps its top-1 token (the keys halted
    # tokens withdraw from later blocks are not counted against it)
    stop = torch.full((tp.shape[0],), m.n_layer)
    for k in range(m.n_layer - 1, 0, -1):
        nb = m.n_layer
        m.n_layer = k  # the blocks from k on run for nobody
        cut, _, _, _, _ = m.forward_infer(x, gates=False)
        m.n_layer = nb
        sp = F.log_softmax(cut.reshape(-1, cut.shape[-1])[:args.positions], -1)
        kl = (tp.exp() * (tp - sp)).sum(-1)
        if k >= args.halt_first:
            stop = torch.where(tp.argmax(-1) == sp.argmax(-1), torch.full_like(stop, k), stop)
        print(json.dumps({"blocks_run": k, "positions": int(kl.numel()),
                          "kl_nats": round(float(kl.mean()), 4),
                          "top1_agreement": round(float((tp.argmax(-1) == sp.argmax(-1))
                                                        .float().mean()), 4)}))
    # what one head costs: each head of each block off for every token (gates forced)
    m.n_layer, worst, best = nb, None, None
    for l in range(m.n_layer):
        for j in range(m.n_head):
            for b in m.gate_b:
                b.data.fill_(30.0)
            m.gate_b[l].data[j] = -30.0
            g, _, _, _, _ = m.forward_infer(x, gates=True)
            sp = F.log_softmax(g.reshape(-1, g.shape[-1])[:args.positions], -1)
            r = (float((tp.exp() * (tp - sp)).sum(-1).mean()),
                 float((tp.argmax(-1) == sp.argmax(-1)).float().mean()), l, j)
            best = r if best is None or r[1] > best[1] else best
            worst = r if worst is None or r[1] < worst[1] else worst
    for what, r in (("least", best), ("most", worst)):
        print(json.dumps({"one_head_off": what + " costly", "block": r[2], "head": r[3],
                          "head_ops_skipped": round(1 / (m.n_layer * m.n_head), 4),
                          "kl_nats": round(r[0], 4), "top1_agreement": round(r[1], 4)}))
    print(json.dumps({"oracle_halting_from_block": args.halt_first,
                      "token_layer_ops_skipped": round(1 - float(stop.float().mean()) / m.n_layer, 4),
                      "tokens_halted": round(float((stop < m.n_layer).float().mean()), 4)}))


# ---------------------------------------------------------------------------- export
TOKENIZER_TYPES = {"tokenizer.ggml.model": gw.T_STRING,
                   "tokenizer.ggml.tokens": (gw.T_ARRAY, gw.T_STRING),
                   "tokenizer.ggml.scores": (gw.T_ARRAY, gw.T_FLOAT32),
                   "tokenizer.ggml.token_type": (gw.T_ARRAY, gw.T_INT32),
                   "tokenizer.ggml.unknown_token_id": gw.T_UINT32,
                   "tokenizer.ggml.bos_token_id": gw.T_UINT32,
                   "tokenizer.ggml.eos_token_id": gw.T_UINT32}


def cmd_export(args):
    kv, ts = gw.read_gguf(args.base)
    kvb, W = read_llama_gguf(args.base)
    ck = torch.load(args.ckpt)
    m = build(args, kvb, W, ck)
    tg = args.tau_g if args.tau_g is not None else m.tau_g
    th = args.tau_h if args.tau_h is not None else m.tau_h
    sha = hashlib.sha256(open(args.base, "rb").read()).hexdigest()
    a = ck["args"]
    w = gw.GGUFWriter(alignment=32)
    w.add("general.architecture", gw.T_STRING, "skim-gated")
    w.add("general.name", gw.T_STRING, args.name)
    corrected = m.corrected_names()
    m.merge_lora()  # the exported weights: W + B A where corrected, float32
    how = ("base weights frozen and unchanged" if not corrected else
           f"base weights corrected by rank-{m.lora_rank} low-rank terms (merged)")
    w.add("general.description", gw.T_STRING,
          f"{kv.get('general.name', 'llama')} with per-token head gates and token halting "
          f"retrofitted by skim tools/train/retrofit.py: {how}, gates distilled against "
          "the dense model")
    for k in ("context_length", "embedding_length", "block_count", "feed_forward_length",
              "attention.head_count", "attention.head_count_kv", "rope.dimension_count"):
        w.add("skim." + k, gw.T_UINT32, int(kv["llama." + k]))
    w.add("skim.attention.key_length", gw.T_UINT32, m.hd)
    w.add("skim.ffn.activation", gw.T_STRING, "swiglu")
    w.add("skim.attention.layer_norm_rms_epsilon", gw.T_FLOAT32, m.eps)
    w.add("skim.rope.freq_base", gw.T_FLOAT32, m.rope_base)
    w.add("skim.rope.mode", gw.T_UINT32, 0)
    w.add("skim.gate.threshold", gw.T_FLOAT32, tg)
    w.add("skim.halt.threshold", gw.T_FLOAT32, th)
    w.add("skim.halt.hidden", gw.T_UINT32, m.halt_hidden)
    w.add("skim.halt.first_block", gw.T_UINT32, m.halt_first)
    # how it was made
    w.add("skim.retrofit.base", gw.T_STRING, os.path.basename(args.base))
    w.add("skim.retrofit.base_sha256", gw.T_STRING, sha)
    w.add("skim.retrofit.base_frozen", gw.T_BOOL, not corrected)
    if corrected:
        w.add("skim.retrofit.base_corrected", gw.T_STRING,
              "W + B A (B zero at the start, trained with the gates against the base model "
              "as teacher, then merged): " + ", ".join(corrected))
        w.add("skim.retrofit.lora_rank", gw.T_UINT32, int(m.lora_rank))
    w.add("skim.retrofit.teacher", gw.T_STRING, "the base model, gates off")
    w.add("skim.retrofit.loss", gw.T_STRING,
          f"KL(teacher||student) + dual-ascent penalties on executed head-ops and depth "
          f"(targets {a['target_head_skip']} / {a['target_tok_skip']} skipped)"
          + (f" + {a['readout_weight']} x KL of the readouts before blocks {m.halt_first}.."
             if a.get("readout_weight") else ""))
    w.add("skim.retrofit.data", gw.T_STRING,
          f"{ck['n_windows']} windows of {a['ctx']} tokens of the teacher's own samples "
          "(skim generate, temperature 1, seeds " + args.seeds + ")")
    w.add("skim.retrofit.steps", gw.T_UINT32, int(a["steps"]))
    w.add("skim.retrofit.train_seconds", gw.T_FLOAT32, float(ck["train_seconds"]))
    for k, t in TOKENIZER_TYPES.items():
        if k in kv:
            if isinstance(t, tuple):
                w.add(k, t[0], (t[1], kv[k]))
            else:
                w.add(k, t, kv[k])
    base_names = []
    for name, (ne, dt, data) in ts.items():  # base tensors: the bytes as they are
        if name in corrected:  # ... or merged with their correction
            a = m.w(name).detach().numpy().astype("<f4")
            assert dt == gw.GGML_F32 and list(reversed(ne)) == list(a.shape), name
            data = a.tobytes()
        w.tensors.append((name, ne, dt, data))
        base_names.append(name)
    f32 = lambda p: p.detach().float().numpy()  # noqa: E731
    for l in range(m.n_layer):
        pre = f"blk.{l}."
        w.add_tensor(pre + "attn_gate.weight", f32(m.gate_w[l]))
        w.add_tensor(pre + "attn_gate.bias", f32(m.gate_b[l]))
        if l >= m.halt_first:
            k = str(l)
            w.add_tensor(pre + "halt_norm.weight", f32(m.halt_norm[k]))
            w.add_tensor(pre + "halt_up.weight", f32(m.halt_up[k]))
            w.add_tensor(pre + "halt_up.bias", f32(m.halt_up_b[k]))
            w.add_tensor(pre + "halt_down.weight", f32(m.halt_down[k]))
            w.add_tensor(pre + "halt_down.bias", f32(m.halt_down_b[k]))
    w.write(args.out)
    kv2, ts2 = gw.read_gguf(args.out)
    for name in base_names:
        assert (ts2[name] == ts[name]) == (name not in corrected), name
    for name, ne, dt, data in w.tensors:
        assert ts2[name] == (ne, dt, data), name
    print(f"wrote {args.out}: {len(w.tensors)} tensors ({len(base_names) - len(corrected)} "
          f"base tensors byte-identical to {args.base}, {len(corrected)} corrected), "
          f"{os.path.getsize(args.out)} bytes; read back OK")


# ---------------------------------------------------------------------------- vectors
def cmd_vectors(args):
    torch.set_num_threads(1)
    kv, W = read_llama_gguf(args.base)
    tok = Tokenizer(kv)
    ck = torch.load(args.ckpt)
    m = build(args, kv, W, ck)
    m.merge_lora()  # the weights as the export writes them
    if args.tau_g is not None:
        m.tau_g = args.tau_g
    if args.tau_h is not None:
        m.tau_h = args.tau_h
    val = load_samples(args.samples, tok)
    prompts = [tok.encode(t) for t in args.prompts] + [val[0][:args.excerpt]]
    L, H = m.n_layer, m.n_head
    out = {"model": os.path.basename(args.model_name), "semantics":
           "assets/README.md section 8; positions 0..n-1; logits at every position",
           "tau_g": m.tau_g, "tau_h": m.tau_h, "n_vocab": int(W["token_embd.weight"].shape[0]),
           "n_layer": L, "n_head": H, "logit_digits": 7, "prompts": []}
    for ids in prompts:
        entry = {"text": "", "tokens": ids}
        entry.update(vector_entry(m.forward_infer, ids, L, m.tau_g, m.tau_h, m.halt_first, 7))
        out["prompts"].append(entry)
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    for e in out["prompts"]:
        gd = e["gated"]
        n = len(e["tokens"])
        print(n, "tokens; token-layer ops", gd["token_layer_ops_executed"], "of", n * L,
              "; head-ops", gd["head_ops_executed"], "of", gd["token_layer_ops_executed"] * H,
              "; min margin", gd["min_decision_margin"])


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--base", required=True, help="the llama GGUF (F32), e.g. converted "
                        "by tools/convert_llama2c")
    common.add_argument("--halt-hidden", type=int, default=16)
    common.add_argument("--halt-first", type=int, default=1)
    common.add_argument("--ctx", type=int, default=128)
    t = sub.add_parser("train", parents=[common])
    t.add_argument("--samples", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--lr", type=float, default=3e-2)
    t.add_argument("--seed", type=int, default=1234)
    t.add_argument("--soft-frac", type=float, default=0.4)
    t.add_argument("--temp0", type=float, default=0.5)
    t.add_argument("--temp1", type=float, default=0.1)
    t.add_argument("--gate-bias0", type=float, default=2.0)
    t.add_argument("--halt-bias0", type=float, default=-2.0)
    t.add_argument("--target-head-skip", type=float, default=0.30)
    t.add_argument("--target-tok-skip", type=float, default=0.20)
    t.add_argument("--lam0", type=float, default=0.02)
    t.add_argument("--dual-lr", type=float, default=0.02)
    t.add_argument("--lam-cap", type=float, default=2.0)
    t.add_argument("--log-every", type=int, default=10)
    t.add_argument("--lora-rank", type=int, default=0,
                   help="rank of the low-rank corrections of the base weights (0: frozen base)")
    t.add_argument("--lora-lr", type=float, default=3e-3)
    t.add_argument("--readout-weight", type=float, default=0.0,
                   help="weight of the KL of readouts before the blocks halting may skip")
    t.add_argument("--halt-label-kl", type=float, default=0.0,
                   help="> 0: the halting MLPs also learn, by cross-entropy, to halt where "
                        "the readout keeps the top-1 token within this KL (nats)")
    t.add_argument("--halt-label-weight", type=float, default=1.0)
    t.add_argument("--halt-st", action="store_true",
                   help="halting straight-through hard at the threshold (no concrete noise)")
    t.add_argument("--margin-weight", type=float, default=0.0,
                   help="weight of a hinge on the student's lead of the teacher's top-1 token")
    t.add_argument("--margin", type=float, default=1.0,
                   help="the lead asked for: the teacher's own, capped at this (logits)")
    t.add_argument("--cosine", action="store_true",
                   help="learning rates fall along a half cosine to a tenth")
    t.add_argument("--top1-weight", type=float, default=0.0,
                   help="weight of a cross-entropy to the teacher's top-1 token")
    e = sub.add_parser("eval", parents=[common])
    e.add_argument("--samples", required=True)
    e.add_argument("--ckpt", required=True)
    e.add_argument("--positions", type=int, default=2000)
    e.add_argument("--points", nargs="+", default=["0.5,0.5"],
                   help="tau_g,tau_h pairs")
    e.add_argument("--calibrate", nargs="+", default=None,
                   help="HEAD,TOK skipped-fraction targets: thresholds found on "
                        "--calib-samples, then measured on --samples (replaces --points)")
    e.add_argument("--calib-samples", default=None)
    e.add_argument("--out", default=None)
    dc = sub.add_parser("depth-cost", parents=[common])
    dc.add_argument("--samples", required=True)
    dc.add_argument("--positions", type=int, default=2000)
    x = sub.add_parser("export", parents=[common])
    x.add_argument("--ckpt", required=True)
    x.add_argument("--out", required=True)
    x.add_argument("--name", required=True)
    x.add_argument("--seeds", required=True, help="the training seeds, for the metadata")
    x.add_argument("--tau-g", type=float, default=None)
    x.add_argument("--tau-h", type=float, default=None)
    v = sub.add_parser("vectors", parents=[common])
    v.add_argument("--ckpt", required=True)
    v.add_argument("--samples", required=True, help="validation samples (an excerpt)")
    v.add_argument("--out", required=True)
    v.add_argument("--model-name", required=True)
    v.add_argument("--prompts", nargs="+", default=["Once upon a time", "Tom and Lily went"])
    v.add_argument("--excerpt", type=int, default=40)
    v.add_argument("--tau-g", type=float, default=None, help="the thresholds the file ships")
    v.add_argument("--tau-h", type=float, default=None)
    args = ap.parse_args()
    {"train": cmd_train, "eval": cmd_eval, "depth-cost": cmd_depth_cost, "export": cmd_export,
     "vectors": cmd_vectors}[args.cmd](args)


if __name__ == "__main__":
    main()
