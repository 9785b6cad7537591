#!/usr/bin/python3
"""Exports a trained gated model to GGUF (F32), as specified in assets/README.md.

  /usr/bin/python3 tools/train/export.py [--ckpt tools/train/runs/gated/final.pt]
                                         [--out assets/gated-shakespeare.gguf]
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_writer as gw  # noqa: E402
from common import load_model  # noqa: E402


def add_hparams(w, cfg):
    """The skim.* keys of assets/README.md section 1 from a Config."""
    u32 = lambda k, v: w.add(k, gw.T_UINT32, int(v))  # noqa: E731
    f32 = lambda k, v: w.add(k, gw.T_FLOAT32, float(v))  # noqa: E731
    u32("skim.context_length", cfg.ctx)
    u32("skim.embedding_length", cfg.d)
    u32("skim.block_count", cfg.n_layer)
    u32("skim.head_count", cfg.n_head)
    u32("skim.head_count_kv", cfg.n_head)
    u32("skim.attention.key_length", cfg.head_dim)
    u32("skim.feed_forward_length", cfg.ff)
    w.add("skim.ffn.activation", gw.T_STRING, "gelu_tanh")
    f32("skim.attention.layer_norm_rms_epsilon", cfg.eps)
    f32("skim.rope.freq_base", cfg.rope_base)
    u32("skim.rope.dimension_count", cfg.head_dim)
    u32("skim.rope.mode", 0)
    f32("skim.gate.threshold", cfg.tau_g)
    f32("skim.halt.threshold", cfg.tau_h)
    u32("skim.halt.hidden", cfg.halt_hidden)
    u32("skim.halt.first_block", 1)


def add_tokenizer(w, chars):
    w.add("tokenizer.ggml.model", gw.T_STRING, "char")
    w.add("tokenizer.ggml.tokens", gw.T_ARRAY, (gw.T_STRING, list(chars)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="tools/train/runs/gated/final.pt")
    ap.add_argument("--out", default="assets/gated-shakespeare.gguf")
    ap.add_argument("--name", default="gated-shakespeare")
    ap.add_argument("--tau-g", type=float, default=None, help="head threshold to ship")
    ap.add_argument("--tau-h", type=float, default=None, help="halt threshold to ship")
    args = ap.parse_args()
    model, chars, ck = load_model(args.ckpt)
    if args.tau_g is not None:
        model.cfg.tau_g = args.tau_g
    if args.tau_h is not None:
        model.cfg.tau_h = args.tau_h
    cfg = model.cfg

    w = gw.GGUFWriter(alignment=32)
    w.add("general.architecture", gw.T_STRING, "skim-gated")
    w.add("general.name", gw.T_STRING, args.name)
    w.add("general.description", gw.T_STRING,
          "Character-level transformer with per-token head gates and token halting, "
          "trained on Tiny Shakespeare by skim tools/train/train_gated.py")
    add_hparams(w, cfg)
    add_tokenizer(w, chars)

    def t(name, p):
        w.add_tensor(name, p.detach().cpu().float().numpy())

    t("token_embd.weight", model.tok.weight)  # [65][128] -> ne [128, 65]
    for l, b in enumerate(model.blocks):
        pre = f"blk.{l}."
        t(pre + "attn_norm.weight", b.attn_norm.weight)
        t(pre + "attn_q.weight", b.wq.weight)
        t(pre + "attn_k.weight", b.wk.weight)
        t(pre + "attn_v.weight", b.wv.weight)
        t(pre + "attn_output.weight", b.wo.weight)
        t(pre + "attn_gate.weight", b.gate.weight)
        t(pre + "attn_gate.bias", b.gate.bias)
        t(pre + "ffn_norm.weight", b.ffn_norm.weight)
        t(pre + "ffn_up.weight", b.up.weight)
        t(pre + "ffn_down.weight", b.down.weight)
        if b.halt is not None:
            t(pre + "halt_norm.weight", b.halt.norm.weight)
            t(pre + "halt_up.weight", b.halt.up.weight)
            t(pre + "halt_up.bias", b.halt.up.bias)
            t(pre + "halt_down.weight", b.halt.down.weight)
            t(pre + "halt_down.bias", b.halt.down.bias)
    t("output_norm.weight", model.out_norm.weight)
    t("output.weight", model.out.weight)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    w.write(args.out)

    # self-check: read back and compare every tensor
    kv, tensors = gw.read_gguf(args.out)
    for name, ne, dt, data in w.tensors:
        ne2, dt2, data2 = tensors[name]
        assert ne2 == ne and dt2 == dt and data2 == data, name
    assert kv["tokenizer.ggml.tokens"] == list(chars)
    print(f"wrote {args.out}: {len(w.tensors)} tensors, {len(w.kv)} keys, "
          f"{os.path.getsize(args.out)} bytes; read back OK")


if __name__ == "__main__":
    main()
