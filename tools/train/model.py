"""The gated character model of assets/README.md, in PyTorch.

Run with Debian's /usr/bin/python3 (python3-torch). Shared by train_gated.py, eval.py and
export.py. Two forwards:
  - GatedLM.forward_train(idx, mode): mode 'dense' (gates off), 'soft' (noisy soft gates,
    running halting probability), 'hard' (straight-through hard gates at the thresholds).
  - GatedLM.forward_infer(idx, gates): the exact inference semantics of assets/README.md,
    section 3 (masked-dense form of the skip forward), returning the masks too.
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

import fastmm

# The Tiny Shakespeare text lives outside the repository, in ../shared/data beside the
# checkout (README: Models); SKIM_DATA_DIR names another folder.
DATA_PATH = os.path.join(
    os.environ.get("SKIM_DATA_DIR",
                   os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data")),
    "tinyshakespeare.txt")


class Config:
    def __init__(self, **kw):
        self.vocab = 65
        self.d = 128
        self.n_layer = 4
        self.n_head = 4
        self.ff = 512
        self.ctx = 128
        self.halt_hidden = 32
        self.eps = 1e-5
        self.rope_base = 10000.0
        self.tau_g = 0.5
        self.tau_h = 0.5
        self.gated = True
        for k, v in kw.items():
            setattr(self, k, v)

    @property
    def head_dim(self):
        return self.d // self.n_head


def load_text(path=DATA_PATH):
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    return chars, stoi, data[:n], data[n:]


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(T, hd, base):
    i = torch.arange(hd // 2, dtype=torch.float64)
    inv = base ** (-2.0 * i / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()  # [T, hd/2]


def apply_rope(x, cos, sin):
    """x [B, T, H, hd]; NORM mode: interleaved pairs (x[2i], x[2i+1])."""
    B, T, H, hd = x.shape
    xp = x.view(B, T, H, hd // 2, 2)
    x0, x1 = xp[..., 0], xp[..., 1]
    c = cos[:T][None, :, None, :]
    s = sin[:T][None, :, None, :]
    y0 = x0 * c - x1 * s
    y1 = x0 * s + x1 * c
    return torch.stack((y0, y1), dim=-1).view(B, T, H, hd)


def logistic_noise(shape):
    u = torch.rand(shape).clamp(1e-6, 1 - 1e-6)
    return torch.log(u) - torch.log1p(-u)


class Linear(nn.Linear):
    """nn.Linear whose product runs through oneDNN (see fastmm.py)."""

    def forward(self, x):
        return fastmm.linear(x, self.weight, self.bias)


class Halt(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm = RMSNorm(cfg.d, cfg.eps)
        self.up = Linear(cfg.d, cfg.halt_hidden)
        self.down = Linear(cfg.halt_hidden, 1)

    def forward(self, x):  # -> logit [B, T]
        return self.down(gelu_tanh(self.up(self.norm(x)))).squeeze(-1)


class Block(nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        d = cfg.d
        self.cfg = cfg
        self.attn_norm = RMSNorm(d, cfg.eps)
        self.wq = Linear(d, d, bias=False)
        self.wk = Linear(d, d, bias=False)
        self.wv = Linear(d, d, bias=False)
        self.wo = Linear(d, d, bias=False)
        self.gate = Linear(d, cfg.n_head)
        self.ffn_norm = RMSNorm(d, cfg.eps)
        self.up = Linear(d, cfg.ff, bias=False)
        self.down = Linear(cfg.ff, d, bias=False)
        self.halt = Halt(cfg) if layer >= 1 else None

    def qkv(self, h, cos, sin):
        B, T, _ = h.shape
        H, hd = self.cfg.n_head, self.cfg.head_dim
        q = apply_rope(self.wq(h).view(B, T, H, hd), cos, sin).transpose(1, 2)
        k = apply_rope(self.wk(h).view(B, T, H, hd), cos, sin).transpose(1, 2)
        v = self.wv(h).view(B, T, H, hd).transpose(1, 2)
        return q, k, v  # [B, H, T, hd]

    def ffn(self, x):
        return self.down(gelu_tanh(self.up(self.ffn_norm(x))))


class GatedLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab, cfg.d)
        self.blocks = nn.ModuleList([Block(cfg, l) for l in range(cfg.n_layer)])
        self.out_norm = RMSNorm(cfg.d, cfg.eps)
        self.out = Linear(cfg.d, cfg.vocab, bias=False)
        cos, sin = rope_tables(cfg.ctx, cfg.head_dim, cfg.rope_base)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self._init()

    def _init(self):
        for n, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
        for b in self.blocks:
            nn.init.normal_(b.wo.weight, 0.0, 0.02 / math.sqrt(2 * self.cfg.n_layer))
            nn.init.normal_(b.down.weight, 0.0, 0.02 / math.sqrt(2 * self.cfg.n_layer))
            nn.init.normal_(b.gate.weight, 0.0, 0.01)
            nn.init.constant_(b.gate.bias, 3.0)
            if b.halt is not None:
                nn.init.zeros_(b.halt.up.bias)
                nn.init.normal_(b.halt.down.weight, 0.0, 0.01)
                nn.init.constant_(b.halt.down.bias, -3.0)

    # ------------------------------------------------------------------ training
    def forward_train(self, idx, mode, halt_temp=None):
        """Returns logits [B, T, V] and stats: soft expected fractions (for penalties) and
        the measured hard fractions of executed token-layer ops and head-ops.
        In 'hard' mode with halt_temp set, halting uses binary-concrete samples
        sigmoid((z + logistic noise) / halt_temp) instead of the straight-through gate
        (head gates stay straight-through hard)."""
        cfg = self.cfg
        B, T = idx.shape
        x = self.tok(idx)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        r = torch.ones(B, T)  # running probability of still being active (ST in hard mode)
        r_hard = torch.ones(B, T)  # the inference decisions (threshold), for the stats
        tok_exec = []  # per block: mean r
        head_num, head_den = 0.0, 0.0
        hard_tok, hard_head_num, hard_head_den = 0.0, 0.0, 0.0
        for l, b in enumerate(self.blocks):
            if mode != "dense" and b.halt is not None:
                z = b.halt(x)
                with torch.no_grad():
                    r_hard = r_hard * (torch.sigmoid(z) < cfg.tau_h).float()
                if mode == "soft":
                    p = torch.sigmoid(z + logistic_noise(z.shape))
                    keep = 1.0 - p
                elif halt_temp is not None:
                    p = torch.sigmoid((z + logistic_noise(z.shape)) / halt_temp)
                    keep = 1.0 - p
                else:
                    ps = torch.sigmoid(z)
                    hard = (ps < cfg.tau_h).float()
                    keep = hard + (1.0 - ps) - (1.0 - ps).detach()
                r = r * keep
            h = b.attn_norm(x)
            q, k, v = b.qkv(h, self.cos, self.sin)
            s = fastmm.bmm(q, k.transpose(-1, -2)) / math.sqrt(cfg.head_dim)  # [B, H, T, T]
            s = s.masked_fill(~causal, float("-inf"))
            if mode == "dense":
                a = torch.softmax(s, dim=-1)
            else:
                mx = s.amax(-1, keepdim=True).detach()
                e = torch.exp(s - mx) * r[:, None, None, :]
                a = e / e.sum(-1, keepdim=True).clamp_min(1e-30)
            o = fastmm.bmm(a, v)  # [B, H, T, hd]
            if mode != "dense":
                zg = b.gate(h)  # [B, T, H]
                if mode == "soft":
                    g = torch.sigmoid(zg + logistic_noise(zg.shape))
                else:
                    gs = torch.sigmoid(zg)
                    g = (gs >= cfg.tau_g).float() + gs - gs.detach()
                o = o * g.transpose(1, 2)[..., None]
                rd = r.detach()
                head_num = head_num + (rd[..., None] * g).sum()
                head_den = head_den + rd.sum() * cfg.n_head
                with torch.no_grad():
                    rh = r_hard if mode == "hard" else r
                    gh = (torch.sigmoid(zg) >= cfg.tau_g).float()
                    hard_head_num += float((rh[..., None] * gh).sum())
                    hard_head_den += float(rh.sum()) * cfg.n_head
                    hard_tok += float(rh.mean())
                tok_exec.append(r.mean())
            o = o.transpose(1, 2).reshape(B, T, cfg.d)
            upd = b.wo(o)
            if mode == "dense":
                x = x + upd
                x = x + b.ffn(x)
            else:
                x = x + r[..., None] * upd
                x = x + r[..., None] * b.ffn(x)
        logits = self.out(self.out_norm(x))
        stats = {}
        if mode != "dense":
            L = cfg.n_layer
            stats["exec_tok"] = sum(tok_exec) / L
            stats["exec_head"] = head_num / head_den
            stats["hard_exec_tok"] = hard_tok / L
            stats["hard_exec_head"] = hard_head_num / max(hard_head_den, 1e-9)
        return logits, stats

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def forward_infer(self, idx, gates=True):
        """Exact inference semantics (assets/README.md section 3), masked-dense form.
        idx [B, T]. Returns logits [B, T, V], tok_active [L, B, T] bool, head_active
        [L, B, T, H] bool (False for tokens not running the block), p_halt [L, B, T]
        (0 for block 0), g [L, B, T, H]."""
        return self.forward_hard(idx, gates)

    def forward_hard(self, idx, gates=True, mixers=None, collect=None):
        """forward_infer's semantics with gradients. mixers: {block: module} whose output
        on the normalised stream of every token replaces that block's attention (section
        9; tools/train/distill.py; no heads: head_active is the running tokens' all).
        collect: a dict receiving per block 'x' (its input), 'upd' (the attention or mixer
        output), 'active', 'heads' and, for attention, 'attn' (the maps)."""
        cfg = self.cfg
        mixers = mixers or {}
        B, T = idx.shape
        L, H = cfg.n_layer, cfg.n_head
        x = self.tok(idx)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        eye = torch.eye(T, dtype=torch.bool)
        active = torch.ones(B, T, dtype=torch.bool)
        tok_act = torch.zeros(L, B, T, dtype=torch.bool)
        head_act = torch.zeros(L, B, T, H, dtype=torch.bool)
        p_all = torch.zeros(L, B, T)
        g_all = torch.zeros(L, B, T, H)
        for l, b in enumerate(self.blocks):
            if gates and b.halt is not None:
                with torch.no_grad():
                    p = torch.sigmoid(b.halt(x))
                p_all[l] = p
                active = active & ~(p >= cfg.tau_h)  # NaN never halts
            tok_act[l] = active
            h = b.attn_norm(x)
            if l in mixers:
                upd = mixers[l](h)
                head_act[l] = active[..., None].expand(B, T, H)
            else:
                q, k, v = b.qkv(h, self.cos, self.sin)
                s = fastmm.bmm(q, k.transpose(-1, -2)) / math.sqrt(cfg.head_dim)  # [B, H, Tq, Tk]
                allowed = causal[None] & (active[:, None, :] | eye[None])  # [B, Tq, Tk]
                s = s.masked_fill(~allowed[:, None], float("-inf"))
                att = torch.softmax(s, dim=-1)
                o = fastmm.bmm(att, v)  # [B, H, T, hd]
                if gates:
                    g = torch.sigmoid(b.gate(h))
                    g_all[l] = g.detach()
                    ha = ~(g < cfg.tau_g)  # NaN counts as active
                else:
                    ha = torch.ones(B, T, H, dtype=torch.bool)
                head_act[l] = ha & active[..., None]
                o = o * ha.transpose(1, 2)[..., None].float()
                o = o.transpose(1, 2).reshape(B, T, cfg.d)
                upd = b.wo(o)
                if collect is not None:
                    collect.setdefault("attn", {})[l] = att.detach()
            if collect is not None:
                for key, val in (("x", x), ("upd", upd), ("active", active), ("heads", head_act[l])):
                    collect.setdefault(key, {})[l] = val.detach().clone()
            m = active[..., None]
            x = torch.where(m, x + upd, x)
            x = torch.where(m, x + b.ffn(x), x)
        logits = self.out(self.out_norm(x))
        return logits, tok_act, head_act, p_all, g_all
