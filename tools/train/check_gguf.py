#!/usr/bin/python3
"""An independent NumPy forward of assets/README.md section 3, written in skip form
(compacted token and head lists, as the C side does), reading only the GGUF file. It checks
the exported file and the README against the test vectors written by make_vectors.py.

  /usr/bin/python3 tools/train/check_gguf.py [--gguf assets/gated-shakespeare.gguf]
      [--vectors assets/vectors.json]
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_writer as gw  # noqa: E402


def load(path):
    kv, ts = gw.read_gguf(path)
    W = {}
    for name, (ne, t, data) in ts.items():
        assert t == gw.GGML_F32
        W[name] = np.frombuffer(data, dtype="<f4").reshape(list(reversed(ne))).astype(np.float64)
    return kv, W


def rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def gelu(u):
    return 0.5 * u * (1 + np.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3)))


def sigmoid(u):
    return 1 / (1 + np.exp(-u))


def rope(x, pos, base, n_dims):
    # x [n, H, hd], NORM mode
    y = x.copy()
    for i in range(n_dims // 2):
        th = pos * base ** (-2.0 * i / n_dims)
        c, s = np.cos(th)[:, None], np.sin(th)[:, None]
        a, b = x[:, :, 2 * i], x[:, :, 2 * i + 1]
        y[:, :, 2 * i] = a * c - b * s
        y[:, :, 2 * i + 1] = a * s + b * c
    return y


def forward(kv, W, ids, gates):
    L, H = kv["skim.block_count"], kv["skim.head_count"]
    d = kv["skim.embedding_length"]
    hd = d // H
    eps = kv["skim.attention.layer_norm_rms_epsilon"]
    base = kv["skim.rope.freq_base"]
    tg, th = kv["skim.gate.threshold"], kv["skim.halt.threshold"]
    n = len(ids)
    X = W["token_embd.weight"][ids].copy()          # [n, d]
    A = np.arange(n)                                 # active tokens, ascending
    masks_tok, masks_head = [], []
    for l in range(L):
        p = f"blk.{l}."
        if gates and l >= kv["skim.halt.first_block"]:
            xa = rms(X[A], W[p + "halt_norm.weight"], eps)
            hh = gelu(xa @ W[p + "halt_up.weight"].T + W[p + "halt_up.bias"])
            ph = sigmoid(hh @ W[p + "halt_down.weight"].T + W[p + "halt_down.bias"])[:, 0]
            A = A[~(ph >= th)]
        tm = np.zeros(n, dtype=int)
        tm[A] = 1
        masks_tok.append(tm.tolist())
        hm = np.zeros((n, H), dtype=int)
        h = rms(X[A], W[p + "attn_norm.weight"], eps)        # compact [m, d]
        pos = A.astype(np.float64)
        q = rope((h @ W[p + "attn_q.weight"].T).reshape(-1, H, hd), pos, base, hd)
        k = rope((h @ W[p + "attn_k.weight"].T).reshape(-1, H, hd), pos, base, hd)
        v = (h @ W[p + "attn_v.weight"].T).reshape(-1, H, hd)
        if gates:
            g = sigmoid(h @ W[p + "attn_gate.weight"].T + W[p + "attn_gate.bias"])
            act = ~(g < tg)
        else:
            act = np.ones((len(A), H), dtype=bool)
        o = np.zeros((len(A), H, hd))
        for j in range(H):
            for i in np.nonzero(act[:, j])[0]:              # head j's own token list
                keys = np.nonzero(A <= A[i])[0]
                s = k[keys, j] @ q[i, j] / math.sqrt(hd)
                a = np.exp(s - s.max())
                a /= a.sum()
                o[i, j] = a @ v[keys, j]
                hm[A[i], j] = 1
        masks_head.append(hm.tolist())
        X[A] += o.reshape(-1, d) @ W[p + "attn_output.weight"].T
        f = gelu(rms(X[A], W[p + "ffn_norm.weight"], eps) @ W[p + "ffn_up.weight"].T)
        X[A] += f @ W[p + "ffn_down.weight"].T
    logits = rms(X, W["output_norm.weight"], eps) @ W["output.weight"].T
    return logits, masks_tok, masks_head


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default="assets/gated-shakespeare.gguf")
    ap.add_argument("--vectors", default="assets/vectors.json")
    args = ap.parse_args()
    kv, W = load(args.gguf)
    vec = json.load(open(args.vectors))
    toks = kv["tokenizer.ggml.tokens"]
    ok = True
    for pr in vec["prompts"]:
        ids = [toks.index(c) for c in pr["text"]]
        assert ids == pr["tokens"], "tokenizer mismatch"
        for mode in ("gated", "dense"):
            lg, mt, mh = forward(kv, W, ids, mode == "gated")
            ref = np.array(pr[mode]["logits"])
            err = np.abs(lg - ref).max()
            line = f"{pr['text'][:20]!r:24} {mode}: max |logit diff| {err:.2e}"
            if mode == "gated":
                same = mt == pr["gated"]["token_active"] and mh == pr["gated"]["head_active"]
                line += f", masks {'equal' if same else 'DIFFER'}"
                ok &= same
            ok &= err < 1e-4
            print(line)
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
