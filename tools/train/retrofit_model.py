"""A llama-family GGUF (as tools/convert_llama2c writes it) in PyTorch, with retrofitted
gates: a per-token head gate and a halting MLP per block, on frozen base weights.

Run with Debian's /usr/bin/python3 (python3-torch). Used by retrofit.py. The forward is
assets/README.md section 3 with the llama block (grouped-query attention, SwiGLU
feed-forward, tied or separate classifier): assets/README.md section 8 is the contract.
  - RetrofitLM.forward_train(idx, mode): 'dense' (the teacher), 'soft' (noisy soft gates,
    running halting probability), 'hard' (straight-through head gates; halting by
    binary-concrete samples at temperature halt_temp, or straight-through hard decisions
    at the threshold when halt_temp is 0).
  - RetrofitLM.forward_infer(idx, gates): the inference semantics (masked-dense form of
    the skip forward), returning the masks too.
Optional low-rank corrections of the base weights (lora_rank > 0): W + B A on the seven
matrices of every block (LORA_TARGETS), B zero at the start so the student begins as the
base model. `lora_on = False` gives the base weights (the teacher); `merge_lora()` folds
the corrections into the weights once, as the export writes them.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastmm  # noqa: E402
import gguf_writer as gw  # noqa: E402
from model import logistic_noise, rope_tables, apply_rope, gelu_tanh  # noqa: E402

LORA_TARGETS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")

BASE_KEYS = ("context_length", "embedding_length", "block_count", "feed_forward_length",
             "attention.head_count", "attention.head_count_kv", "rope.dimension_count",
             "attention.layer_norm_rms_epsilon", "rope.freq_base")


def read_llama_gguf(path):
    """(kv, {name: float32 numpy array in PyTorch layout}) of an F32 llama GGUF."""
    kv, ts = gw.read_gguf(path)
    if kv.get("general.architecture") != "llama":
        raise SystemExit(f"{path}: general.architecture is {kv.get('general.architecture')!r}, "
                         "llama expected")
    W = {}
    for name, (ne, t, data) in ts.items():
        if t != gw.GGML_F32:
            raise SystemExit(f"{path}: tensor {name} is not F32 (convert with the default type)")
        W[name] = np.frombuffer(data, dtype="<f4").reshape(list(reversed(ne))).copy()
    return kv, W


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def lin(x, w, b=None):
    return fastmm.linear(x, w, b)


class RetrofitLM(nn.Module):
    def __init__(self, kv, W, halt_hidden=16, halt_first=1, tau_g=0.5, tau_h=0.5, lora_rank=0):
        super().__init__()
        g = lambda k: kv["llama." + k]  # noqa: E731
        self.d = g("embedding_length")
        self.n_layer = g("block_count")
        self.n_head = g("attention.head_count")
        self.n_head_kv = g("attention.head_count_kv")
        self.hd = self.d // self.n_head
        self.ff = g("feed_forward_length")
        self.ctx = g("context_length")
        self.eps = float(g("attention.layer_norm_rms_epsilon"))
        self.rope_base = float(g("rope.freq_base"))
        assert g("rope.dimension_count") == self.hd
        self.halt_hidden, self.halt_first = halt_hidden, halt_first
        self.tau_g, self.tau_h = tau_g, tau_h
        self.tied = "output.weight" not in W
        # frozen base weights (buffers: never trained, never decayed)
        for name, a in W.items():
            self.register_buffer(name.replace(".", "_"), torch.from_numpy(a), persistent=False)
        self.base_names = list(W.keys())
        cos, sin = rope_tables(self.ctx, self.hd, self.rope_base)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        # the gates: everything runs at the start (gate bias +3: sigmoid 0.95 >= 0.5;
        # halting bias -3: p 0.047 < 0.5)
        L, H, d = self.n_layer, self.n_head, self.d
        self.gate_w = nn.ParameterList([nn.Parameter(torch.zeros(H, d)) for _ in range(L)])
        self.gate_b = nn.ParameterList([nn.Parameter(torch.full((H,), 3.0)) for _ in range(L)])
        self.halt_norm = nn.ParameterDict()
        self.halt_up = nn.ParameterDict()
        self.halt_up_b = nn.ParameterDict()
        self.halt_down = nn.ParameterDict()
        self.halt_down_b = nn.ParameterDict()
        gen = torch.Generator().manual_seed(0)
        for l in range(halt_first, L):
            k = str(l)
            self.halt_norm[k] = nn.Parameter(torch.ones(d))
            self.halt_up[k] = nn.Parameter(torch.randn(halt_hidden, d, generator=gen) / math.sqrt(d))
            self.halt_up_b[k] = nn.Parameter(torch.zeros(halt_hidden))
            self.halt_down[k] = nn.Parameter(torch.zeros(1, halt_hidden))
            self.halt_down_b[k] = nn.Parameter(torch.full((1,), -3.0))
        # low-rank corrections: A random (rows of norm ~1), B zero
        self.lora_rank, self.lora_on = lora_rank, lora_rank > 0
        self.lora_A, self.lora_B = nn.ParameterDict(), nn.ParameterDict()
        if lora_rank > 0:
            for l in range(L):
                for t in LORA_TARGETS:
                    name = f"blk.{l}.{t}.weight"
                    out_f, in_f = W[name].shape
                    k = name.replace(".", "_")
                    self.lora_A[k] = nn.Parameter(
                        torch.randn(lora_rank, in_f, generator=gen) / math.sqrt(in_f))
                    self.lora_B[k] = nn.Parameter(torch.zeros(out_f, lora_rank))

    def corrected_names(self):
        return [k for k in self.base_names if k.replace(".", "_") in self.lora_A]

    def w(self, name):
        k = name.replace(".", "_")
        base = getattr(self, k)
        if self.lora_on and k in self.lora_A:
            return base + self.lora_B[k] @ self.lora_A[k]
        return base

    @torch.no_grad()
    def merge_lora(self):
        """Folds W + B A into the weight buffers (float32, as exported); corrections off."""
        if self.lora_on:
            for name in self.corrected_names():
                k = name.replace(".", "_")
                setattr(self, k, (getattr(self, k) + self.lora_B[k] @ self.lora_A[k]).contiguous())
            self.lora_on = False

    # ------------------------------------------------------------------ pieces
    def halt_logit(self, l, x):
        k = str(l)
        h = rmsnorm(x, self.halt_norm[k], self.eps)
        u = gelu_tanh(lin(h, self.halt_up[k], self.halt_up_b[k]))
        return lin(u, self.halt_down[k], self.halt_down_b[k]).squeeze(-1)

    def gate_logit(self, l, h):
        return lin(h, self.gate_w[l], self.gate_b[l])

    def qkv(self, l, h):
        B, T, _ = h.shape
        p = f"blk.{l}."
        H, Hk, hd = self.n_head, self.n_head_kv, self.hd
        q = apply_rope(lin(h, self.w(p + "attn_q.weight")).view(B, T, H, hd), self.cos, self.sin)
        k = apply_rope(lin(h, self.w(p + "attn_k.weight")).view(B, T, Hk, hd), self.cos, self.sin)
        v = lin(h, self.w(p + "attn_v.weight")).view(B, T, Hk, hd)
        rep = H // Hk  # query head j reads key/value head j // rep (llama2.c, ggml)
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, T, hd]

    def ffn(self, l, x):
        p = f"blk.{l}."
        h = rmsnorm(x, self.w(p + "ffn_norm.weight"), self.eps)
        a = F.silu(lin(h, self.w(p + "ffn_gate.weight"))) * lin(h, self.w(p + "ffn_up.weight"))
        return lin(a, self.w(p + "ffn_down.weight"))

    def head_out(self, l, o):
        B, H, T, hd = o.shape
        return lin(o.transpose(1, 2).reshape(B, T, H * hd), self.w(f"blk.{l}.attn_output.weight"))

    def logits_of(self, x):
        out = self.w("token_embd.weight") if self.tied else self.w("output.weight")
        return lin(rmsnorm(x, self.w("output_norm.weight"), self.eps), out)

    # ------------------------------------------------------------------ training
    def forward_train(self, idx, mode, halt_temp=None):
        """Returns logits [B, T, V] and stats: soft expected executed fractions (for the
        penalties) and the hard (threshold) executed fractions of token-layer ops and
        head-ops among running tokens."""
        B, T = idx.shape
        H, L = self.n_head, self.n_layer
        x = F.embedding(idx, self.w("token_embd.weight"))
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        r = torch.ones(B, T)
        r_hard = torch.ones(B, T)
        tok_exec, head_num, head_den, x_mid = [], 0.0, 0.0, []
        hard_tok, hard_hn, hard_hd = 0.0, 0.0, 0.0
        for l in range(L):
            if mode != "dense" and l >= self.halt_first:
                x_mid.append(x)
                z = self.halt_logit(l, x)
                with torch.no_grad():
                    r_hard = r_hard * (torch.sigmoid(z) < self.tau_h).float()
                if mode == "soft":
                    p = torch.sigmoid(z + logistic_noise(z.shape))
                elif halt_temp == 0:  # straight-through hard halting, as inference decides
                    ps = torch.sigmoid(z)
                    p = (ps >= self.tau_h).float() + ps - ps.detach()
                else:
                    p = torch.sigmoid((z + logistic_noise(z.shape)) / halt_temp)
                r = r * (1.0 - p)
            h = rmsnorm(x, self.w(f"blk.{l}.attn_norm.weight"), self.eps)
            q, k, v = self.qkv(l, h)
            s = fastmm.bmm(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
            s = s.masked_fill(~causal, float("-inf"))
            if mode == "dense":
                a = torch.softmax(s, dim=-1)
            else:
                # soft key mask: exactly softmax(s + log r), the diagonal always present
                rk = torch.maximum(r[:, None, None, :], torch.eye(T)[None, None])
                mx = s.amax(-1, keepdim=True).detach()
                e = torch.exp(s - mx) * rk
                a = e / e.sum(-1, keepdim=True).clamp_min(1e-30)
            o = fastmm.bmm(a, v)
            if mode != "dense":
                zg = self.gate_logit(l, h)  # [B, T, H]
                if mode == "soft":
                    g = torch.sigmoid(zg + logistic_noise(zg.shape))
                else:
                    gs = torch.sigmoid(zg)
                    g = (gs >= self.tau_g).float() + gs - gs.detach()
                o = o * g.transpose(1, 2)[..., None]
                rd = r.detach()
                head_num = head_num + (rd[..., None] * g).sum()
                head_den = head_den + rd.sum() * H
                with torch.no_grad():
                    gh = (torch.sigmoid(zg) >= self.tau_g).float()
                    hard_hn += float((r_hard[..., None] * gh).sum())
                    hard_hd += float(r_hard.sum()) * H
                    hard_tok += float(r_hard.mean())
                tok_exec.append(r.mean())
            upd = self.head_out(l, o)
            if mode == "dense":
                x = x + upd
                x = x + self.ffn(l, x)
            else:
                x = x + r[..., None] * upd
                x = x + r[..., None] * self.ffn(l, x)
        logits = self.logits_of(x)
        st = {}
        if mode != "dense":
            st["exec_tok"] = sum(tok_exec) / L
            st["exec_head"] = head_num / head_den
            st["hard_exec_tok"] = hard_tok / L
            st["hard_exec_head"] = hard_hn / max(hard_hd, 1e-9)
            st["x_mid"] = x_mid  # the residual stream before blocks halt_first.. (readouts)
        return logits, st

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def forward_infer(self, idx, gates=True):
        """Exact inference semantics, masked-dense form. idx [B, T]. Returns logits
        [B, T, V], tok_active [L, B, T], head_active [L, B, T, H] (False for tokens not
        running the block), p_halt [L, B, T] (0 before halt_first), g [L, B, T, H]."""
        B, T = idx.shape
        L, H = self.n_layer, self.n_head
        x = F.embedding(idx, self.w("token_embd.weight"))
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        eye = torch.eye(T, dtype=torch.bool)
        active = torch.ones(B, T, dtype=torch.bool)
        tok_act = torch.zeros(L, B, T, dtype=torch.bool)
        head_act = torch.zeros(L, B, T, H, dtype=torch.bool)
        p_all = torch.zeros(L, B, T)
        g_all = torch.zeros(L, B, T, H)
        for l in range(L):
            if gates and l >= self.halt_first:
                p = torch.sigmoid(self.halt_logit(l, x))
                p_all[l] = p
                active = active & ~(p >= self.tau_h)  # NaN never halts
            tok_act[l] = active
            h = rmsnorm(x, self.w(f"blk.{l}.attn_norm.weight"), self.eps)
            q, k, v = self.qkv(l, h)
            s = fastmm.bmm(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
            allowed = causal[None] & (active[:, None, :] | eye[None])
            s = s.masked_fill(~allowed[:, None], float("-inf"))
            o = fastmm.bmm(torch.softmax(s, dim=-1), v)
            if gates:
                g = torch.sigmoid(self.gate_logit(l, h))
                g_all[l] = g
                ha = ~(g < self.tau_g)  # NaN counts as active
            else:
                ha = torch.ones(B, T, H, dtype=torch.bool)
            head_act[l] = ha & active[..., None]
            o = o * ha.transpose(1, 2)[..., None].float()
            m = active[..., None]
            x = torch.where(m, x + self.head_out(l, o), x)
            x = torch.where(m, x + self.ffn(l, x), x)
        return self.logits_of(x), tok_act, head_act, p_all, g_all

    def gate_state(self):
        return {k: v.detach().clone() for k, v in self.state_dict().items()}


class Tokenizer:
    """llama2.c's encoder as skim's tokenizer runs it (models/tokenizer.c): BOS, a space
    prefix, code points with byte fallback, then merges of the best-scoring pair."""

    def __init__(self, kv):
        # GGUF spells a space "\u2581" (SentencePiece); the tokenizer works on spaces
        self.tokens = [t.replace("\u2581", " ") for t in kv["tokenizer.ggml.tokens"]]
        self.scores = kv["tokenizer.ggml.scores"]
        self.bos = kv.get("tokenizer.ggml.bos_token_id", 1)
        self.lookup = {}
        for i, t in enumerate(self.tokens):
            self.lookup.setdefault(t.encode("utf-8"), i)
        self.byte = {}
        for i, t in enumerate(self.tokens):
            if t.startswith("<0x") and t.endswith(">") and len(t) <= 6:
                self.byte.setdefault(int(t[3:-1], 16), i)

    def encode(self, text):
        b = text.encode("utf-8")
        toks = [self.bos]
        if b and b" " in self.lookup:
            toks.append(self.lookup[b" "])
        i = 0
        while i < len(b):
            k = 1
            while i + k < len(b) and (b[i + k] & 0xC0) == 0x80 and k < 4:
                k += 1
            cp = b[i:i + k]
            if cp in self.lookup:
                toks.append(self.lookup[cp])
            else:
                toks += [self.byte[c] for c in cp]
            i += k
        piece = [self.tokens[t].encode("utf-8") for t in toks]
        while True:
            best, bi, bid = -1e10, -1, -1
            for j in range(1, len(toks) - 1):  # toks[0] is BOS
                cat = piece[j] + piece[j + 1]
                tid = self.lookup.get(cat)
                if tid is not None and self.scores[tid] > best:
                    best, bi, bid = self.scores[tid], j, tid
            if bi < 0:
                return toks
            toks[bi:bi + 2] = [bid]
            piece[bi:bi + 2] = [self.tokens[bid].encode("utf-8")]
