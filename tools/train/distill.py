#!/usr/bin/python3
"""Layer-wise distillation of the shipped gated model's attention into a sequence mixer.

The attention sublayer of chosen blocks of assets/gated-shakespeare.gguf is replaced by a
diagonal gated linear recurrence (skim_linear_rec), with four small projections:

    h = rmsnorm(X, attn_norm)                       # the block's own norm, kept
    v = rec_x h;  a = sigmoid(rec_a h + ba);  b = sigmoid(rec_b h + bb)
    s_t = a_t * s_(t-1) + b_t * v_t                 # per channel, s_(-1) = 0
    X  += rec_out s                                 # for the tokens that run the block

The mixer reads the normalised residual stream of every token, halted ones included (a
halted token's X is frozen, as in section 3 of assets/README.md), so its state advances on
every token; its update is added only to the tokens that run the block. The other blocks,
the gates, halting and the MLPs are the shipped model's, unchanged. assets/README.md
section 9 has the file format and the recipe.

Steps (each a subcommand; `all` runs them in order for one choice of layers):
  entropy   mean attention entropy per block on training text (gates on: over running
            tokens and active heads), printed, with the order sparsest (lowest) first;
  train     per chosen block, the mixer trained to reproduce that block's gated attention
            output (rec_x/rec_out start from the attention's wv/wo) from the teacher's own
            block input on training windows (MSE over running tokens); then optionally a
            short end-to-end fine-tune of the mixers only, on KL to the teacher's logits;
  eval      bits per character over the whole validation split, gates on and off;
  export    the GGUF (attention tensors of the replaced blocks removed, rec_* added);
  vectors   PyTorch test vectors for tests/models/test_gated_vectors.c.

  /usr/bin/python3 tools/train/distill.py entropy
  /usr/bin/python3 tools/train/distill.py train --layers sparsest --k 2 --out tools/train/runs/mix-sparse
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_writer as gw  # noqa: E402
from eval import evaluate  # noqa: E402
from export import add_hparams, add_tokenizer  # noqa: E402
from make_vectors import VAL_EXCERPT_LEN, VAL_EXCERPT_OFFSET, vector_entry  # noqa: E402
from model import Config, GatedLM, Linear, load_text  # noqa: E402

SHIPPED = "assets/gated-shakespeare.gguf"


# ---------------------------------------------------------------- the model

def load_gated_gguf(path):
    """The shipped gated model from its GGUF file (F32) as a GatedLM, with its vocabulary."""
    kv, ts = gw.read_gguf(path)
    if kv.get("general.architecture") != "skim-gated":
        raise SystemExit(f"{path}: not a skim-gated file")
    chars = kv["tokenizer.ggml.tokens"]
    cfg = Config(vocab=len(chars), d=kv["skim.embedding_length"], n_layer=kv["skim.block_count"],
                 n_head=kv["skim.head_count"], ff=kv["skim.feed_forward_length"],
                 ctx=kv["skim.context_length"], halt_hidden=kv["skim.halt.hidden"],
                 eps=kv["skim.attention.layer_norm_rms_epsilon"],
                 rope_base=kv["skim.rope.freq_base"], tau_g=kv["skim.gate.threshold"],
                 tau_h=kv["skim.halt.threshold"])
    W = {}
    for name, (ne, t, data) in ts.items():
        if t != gw.GGML_F32:
            raise SystemExit(f"{path}: tensor {name} is not F32")
        W[name] = torch.from_numpy(np.frombuffer(data, dtype="<f4").reshape(list(reversed(ne))).copy())
    model = GatedLM(cfg)
    names = {"tok.weight": "token_embd.weight", "out_norm.weight": "output_norm.weight",
             "out.weight": "output.weight"}
    per = {"attn_norm.weight": "attn_norm.weight", "wq.weight": "attn_q.weight",
           "wk.weight": "attn_k.weight", "wv.weight": "attn_v.weight",
           "wo.weight": "attn_output.weight", "gate.weight": "attn_gate.weight",
           "gate.bias": "attn_gate.bias", "ffn_norm.weight": "ffn_norm.weight",
           "up.weight": "ffn_up.weight", "down.weight": "ffn_down.weight",
           "halt.norm.weight": "halt_norm.weight", "halt.up.weight": "halt_up.weight",
           "halt.up.bias": "halt_up.bias", "halt.down.weight": "halt_down.weight",
           "halt.down.bias": "halt_down.bias"}
    sd = {}
    for k in model.state_dict():
        if k in names:
            sd[k] = W[names[k]]
            continue
        _, l, rest = k.split(".", 2)
        sd[k] = W[f"blk.{l}.{per[rest]}"]
    model.load_state_dict(sd)
    model.eval()
    return model, chars


class Rec(nn.Module):
    """The mixer: projections of the normalised input, a diagonal linear recurrence, and
    an output projection."""

    def __init__(self, d, wv=None, wo=None):
        super().__init__()
        self.x = Linear(d, d, bias=False)
        self.a = Linear(d, d)
        self.b = Linear(d, d)
        self.out = Linear(d, d, bias=False)
        nn.init.normal_(self.a.weight, 0.0, 0.01)
        nn.init.normal_(self.b.weight, 0.0, 0.01)
        nn.init.constant_(self.a.bias, 1.5)   # a ~ 0.82: a moving average over ~5 tokens
        nn.init.constant_(self.b.bias, -1.5)  # b ~ 1 - a: gain about 1
        with torch.no_grad():
            if wv is not None:
                self.x.weight.copy_(wv)
            if wo is not None:
                self.out.weight.copy_(wo)

    def forward(self, h):  # h [B, T, d] -> [B, T, d]
        v = self.x(h)
        a = torch.sigmoid(self.a(h))
        b = torch.sigmoid(self.b(h))
        s = torch.zeros_like(v[:, 0])
        ys = []
        for t in range(v.shape[1]):
            s = a[:, t] * s + b[:, t] * v[:, t]
            ys.append(s)
        return self.out(torch.stack(ys, dim=1))


class MixLM(nn.Module):
    """The gated model with the attention of `layers` replaced by Rec mixers."""

    def __init__(self, base, layers):
        super().__init__()
        self.base = base
        self.cfg = base.cfg
        self.layers = sorted(layers)
        self.mix = nn.ModuleDict({str(l): Rec(self.cfg.d, base.blocks[l].wv.weight,
                                              base.blocks[l].wo.weight) for l in self.layers})

    def forward_hard(self, idx, gates=True, collect=None):
        """The inference semantics (assets/README.md sections 3 and 9) with gradients to
        the mixers; GatedLM.forward_hard's results."""
        mixers = {int(k): m for k, m in self.mix.items()}
        return self.base.forward_hard(idx, gates, mixers=mixers, collect=collect)

    @torch.no_grad()
    def forward_infer(self, idx, gates=True):
        return self.forward_hard(idx, gates)


def attention_layers(n_layer, mix):
    return [l for l in range(n_layer) if l not in mix]


# ---------------------------------------------------------------- entropy

def windows(data, n, T, seed):
    g = torch.Generator().manual_seed(seed)
    ix = torch.randint(0, len(data) - T - 1, (n,), generator=g).tolist()
    return torch.stack([data[i:i + T] for i in ix]), torch.stack([data[i + 1:i + 1 + T] for i in ix])


@torch.no_grad()
def attention_entropy(model, data, n_win=64, seed=7):
    """Per block: mean entropy (nats) of the attention rows of active heads of running
    tokens, gates on, over n_win random training windows; also divided by log(#keys)."""
    student = MixLM(model, [])
    x, _ = windows(data, n_win, model.cfg.ctx, seed)
    col = {}
    student.forward_hard(x, True, collect=col)
    out = []
    for l in range(model.cfg.n_layer):
        a = col["attn"][l]  # [B, H, T, T]
        ent = -(a * torch.log(a.clamp_min(1e-30))).sum(-1)  # [B, H, T]
        nkeys = (a > 0).sum(-1).float()
        norm = torch.where(nkeys > 1, ent / torch.log(nkeys.clamp_min(2)), torch.zeros_like(ent))
        run = col["heads"][l].permute(0, 2, 1)  # [B, H, T]
        n = float(run.sum())
        out.append({"block": l, "mean_entropy": float((ent * run).sum()) / n,
                    "mean_normalised_entropy": float((norm * run).sum()) / n,
                    "pairs": int(n)})
    return out


def choose(ent, how, k):
    order = sorted(ent, key=lambda e: e["mean_entropy"])
    if how == "sparsest":
        return sorted(e["block"] for e in order[:k])
    if how == "densest":
        return sorted(e["block"] for e in order[-k:])
    return sorted(int(v) for v in how.split(","))


# ---------------------------------------------------------------- training

def batches(opt, train, T, batch, steps, lr, seed):
    """(step, windows [batch, T] of the training text), the learning rate cosine to 0."""
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        for gr in opt.param_groups:
            gr["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        ix = torch.randint(0, len(train) - T - 1, (batch,), generator=gen).tolist()
        yield step, torch.stack([train[i:i + T] for i in ix])


def distill_layers(model, student, train, steps, batch, lr, log):
    """Each mixer alone, from the teacher's own block input, to the block's gated attention
    output over the running tokens (MSE divided by the target's mean square)."""
    for l in student.layers:
        rec = student.mix[str(l)]
        opt = torch.optim.Adam(rec.parameters(), lr=lr)
        blk = model.blocks[l]
        for step, xb in batches(opt, train, model.cfg.ctx, batch, steps, lr, seed=1):
            col = {}
            with torch.no_grad():
                MixLM(model, []).forward_hard(xb, True, collect=col)
            x, tgt, act = col["x"][l], col["upd"][l], col["active"][l][..., None].float()
            y = rec(blk.attn_norm(x).detach())
            err = ((y - tgt) ** 2 * act).sum() / (tgt ** 2 * act).sum().clamp_min(1e-12)
            opt.zero_grad(set_to_none=True)
            err.backward()
            opt.step()
            if (step + 1) % 50 == 0 or step == 0:
                log({"phase": "layer", "block": l, "step": step + 1,
                     "relative_mse": round(float(err), 5)})


def finetune(model, student, train, steps, batch, lr, log):
    """The mixers only, end to end: KL(teacher || student) over every position, gates on."""
    if steps <= 0:
        return
    opt = torch.optim.Adam(student.mix.parameters(), lr=lr)
    teacher = MixLM(model, [])
    for step, xb in batches(opt, train, model.cfg.ctx, batch, steps, lr, seed=2):
        with torch.no_grad():
            tl, *_ = teacher.forward_hard(xb, True)
        sl, *_ = student.forward_hard(xb, True)
        V = tl.shape[-1]
        kl = F.kl_div(F.log_softmax(sl.reshape(-1, V), -1), F.log_softmax(tl.reshape(-1, V), -1),
                      log_target=True, reduction="batchmean")
        opt.zero_grad(set_to_none=True)
        kl.backward()
        torch.nn.utils.clip_grad_norm_(student.mix.parameters(), 1.0)
        opt.step()
        if (step + 1) % 25 == 0 or step == 0:
            log({"phase": "finetune", "step": step + 1, "kl": round(float(kl), 5)})


def bpc_both(model, val):
    g = evaluate(model, val, True)
    d = evaluate(model, val, False)
    return {"bpc_gated": g["bpc"], "bpc_dense": d["bpc"],
            "token_layer_ops_skipped": g["token_layer_ops_skipped"], "n_tokens": g["n_tokens"]}


# ---------------------------------------------------------------- files

def save_student(student, path, meta):
    torch.save({"layers": student.layers, "mix": student.mix.state_dict(), "meta": meta}, path)


def load_student(path, base_path=SHIPPED):
    model, chars = load_gated_gguf(base_path)
    ck = torch.load(path, map_location="cpu")
    student = MixLM(model, ck["layers"])
    student.mix.load_state_dict(ck["mix"])
    student.eval()
    return student, chars, ck["meta"]


def export(student, chars, meta, base_path, out, name):
    kv, ts = gw.read_gguf(base_path)
    cfg = student.cfg
    w = gw.GGUFWriter(alignment=32)
    w.add("general.architecture", gw.T_STRING, "skim-gated")
    w.add("general.name", gw.T_STRING, name)
    w.add("general.description", gw.T_STRING,
          "gated-shakespeare with the attention of blocks %s replaced by a gated linear "
          "recurrence, distilled by skim tools/train/distill.py" %
          ",".join(str(l) for l in student.layers))
    add_hparams(w, cfg)
    w.add("skim.mixer.type", gw.T_STRING, "linear_rec")
    w.add("skim.mixer.layers", gw.T_ARRAY, (gw.T_UINT32, [int(l) for l in student.layers]))
    w.add("skim.mixer.recipe", gw.T_STRING, json.dumps(meta, sort_keys=True))
    add_tokenizer(w, chars)
    dropped = ("attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
               "attn_gate.weight", "attn_gate.bias")
    kept = 0
    for tname, (ne, t, data) in ts.items():
        if any(tname == f"blk.{l}.{s}" for l in student.layers for s in dropped):
            continue
        w.tensors.append((tname, ne, t, data))  # the base's bytes, unchanged
        kept += 1
        if tname.endswith("attn_norm.weight"):
            l = int(tname.split(".")[1])
            if l in student.layers:
                r = student.mix[str(l)]
                for suffix, p in (("rec_x.weight", r.x.weight), ("rec_a.weight", r.a.weight),
                                  ("rec_a.bias", r.a.bias), ("rec_b.weight", r.b.weight),
                                  ("rec_b.bias", r.b.bias), ("rec_out.weight", r.out.weight)):
                    w.add_tensor(f"blk.{l}.{suffix}", p.detach().float().numpy())
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    w.write(out)
    kv2, ts2 = gw.read_gguf(out)
    for tname, (ne, t, data) in ts2.items():
        if tname in ts:
            assert ts[tname][2] == data, tname
    print(f"wrote {out}: {len(w.tensors)} tensors ({kept} of the base's {len(ts)} byte for "
          f"byte), {os.path.getsize(out)} bytes; read back OK")


def write_vectors(student, chars, out, name):
    cfg = student.cfg
    stoi = {c: i for i, c in enumerate(chars)}
    _, _, _, val = load_text()
    excerpt = "".join(chars[i] for i in val[VAL_EXCERPT_OFFSET:VAL_EXCERPT_OFFSET + VAL_EXCERPT_LEN])
    att = attention_layers(cfg.n_layer, student.layers)
    res = {"model": name, "semantics": "assets/README.md sections 3 and 9",
           "tau_g": cfg.tau_g, "tau_h": cfg.tau_h, "n_vocab": cfg.vocab,
           "n_layer": cfg.n_layer, "n_head": cfg.n_head, "mixer_layers": student.layers,
           "logit_digits": 8, "prompts": []}
    for text in ["ROMEO:", "First Citizen:\nBefore we proceed", excerpt]:
        ids = [stoi[c] for c in text]
        e = {"text": text, "tokens": ids}
        e.update(vector_entry(student.forward_infer, ids, cfg.n_layer, cfg.tau_g, cfg.tau_h, 1, 8))
        # The run stats count token-layer and head-ops at attention nodes: mixer blocks
        # count in neither.
        gd = e["gated"]
        gd["token_layer_ops_executed"] = sum(sum(gd["token_active"][l]) for l in att)
        gd["head_ops_executed"] = sum(sum(map(sum, gd["head_active"][l])) for l in att)
        res["prompts"].append(e)
    with open(out, "w") as f:
        json.dump(res, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["entropy", "train", "eval", "export", "vectors"])
    ap.add_argument("--base", default=SHIPPED)
    ap.add_argument("--layers", default="sparsest",
                    help="sparsest | densest (by mean attention entropy) | a list like 1,2")
    ap.add_argument("--k", type=int, default=2, help="blocks replaced (sparsest/densest)")
    ap.add_argument("--layer-steps", type=int, default=300)
    ap.add_argument("--finetune-steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--ft-lr", type=float, default=1e-3)
    ap.add_argument("--out", default="tools/train/runs/mix")
    ap.add_argument("--ckpt", default=None, help="eval/export/vectors: DIR/mix.pt")
    ap.add_argument("--gguf", default=None, help="export: the file to write")
    ap.add_argument("--vectors", default=None, help="vectors: the file to write")
    ap.add_argument("--name", default="gated-shakespeare-rec")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t0 = time.time()
    _, _, train, val = load_text()

    if args.cmd == "entropy":
        model, _ = load_gated_gguf(args.base)
        ent = attention_entropy(model, train)
        for e in ent:
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in e.items()}))
        order = sorted(ent, key=lambda e: e["mean_entropy"])
        print("sparsest first:", ",".join(str(e["block"]) for e in order))
        return

    if args.cmd == "train":
        model, chars = load_gated_gguf(args.base)
        for p in model.parameters():
            p.requires_grad_(False)
        ent = attention_entropy(model, train)
        layers = choose(ent, args.layers, args.k)
        os.makedirs(args.out, exist_ok=True)
        logf = open(os.path.join(args.out, "log.jsonl"), "w")

        def log(d):
            d["s"] = round(time.time() - t0, 1)
            print(json.dumps(d), flush=True)
            logf.write(json.dumps(d) + "\n")
            logf.flush()

        log({"entropy": [round(e["mean_entropy"], 4) for e in ent], "layers": layers,
             "choice": args.layers})
        student = MixLM(model, layers)
        distill_layers(model, student, train, args.layer_steps, args.batch, args.lr, log)
        student.eval()
        meta = {"base": os.path.basename(args.base), "layers": layers, "choice": args.layers,
                "entropy": [round(e["mean_entropy"], 4) for e in ent],
                "layer_steps": args.layer_steps, "finetune_steps": args.finetune_steps,
                "batch": args.batch, "lr": args.lr, "ft_lr": args.ft_lr}
        save_student(student, os.path.join(args.out, "layerwise.pt"), meta)
        r = bpc_both(student, val)
        log({"eval": "layer-wise only", **r})
        finetune(model, student, train, args.finetune_steps, args.batch, args.ft_lr, log)
        student.eval()
        save_student(student, os.path.join(args.out, "mix.pt"), meta)
        if args.finetune_steps > 0:
            r = bpc_both(student, val)
            log({"eval": "after fine-tune", **r})
        return

    if args.cmd == "eval":
        if args.ckpt:
            student, _, meta = load_student(args.ckpt, args.base)
            print(json.dumps({"layers": student.layers, **bpc_both(student, val)}))
        else:
            model, _ = load_gated_gguf(args.base)
            print(json.dumps({"layers": [], **bpc_both(MixLM(model, []), val)}))
        return

    student, chars, meta = load_student(args.ckpt, args.base)
    if args.cmd == "export":
        export(student, chars, meta, args.base, args.gguf, args.name)
    else:
        write_vectors(student, chars, args.vectors, args.name + ".gguf")


if __name__ == "__main__":
    main()
