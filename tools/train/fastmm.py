"""Fast single-thread matrix products for Debian's python3-torch.

Debian's torch links the netlib reference BLAS (about 3-4 GFLOP/s), but also oneDNN
(mkldnn), whose linear kernel runs at about 100 GFLOP/s on one thread. These autograd
functions route the model's matrix products through aten::mkldnn_linear; values equal a
plain matmul within float rounding.
"""
import torch

_lin = torch.ops.aten.mkldnn_linear


def _mm_nt(a, b):
    """a [N, K] @ b[M, K]^T -> [N, M] via oneDNN (both dense float32)."""
    return _lin(a.contiguous().to_mkldnn(), b.contiguous().to_mkldnn()).to_dense()


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        shp = x.shape
        y = _mm_nt(x.reshape(-1, shp[-1]), w)
        return y.view(*shp[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        g2 = g.reshape(-1, g.shape[-1])
        x2 = x.reshape(-1, x.shape[-1])
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = _mm_nt(g2, w.t()).view(x.shape)
        if ctx.needs_input_grad[1]:
            gw = _mm_nt(g2.t(), x2.t())
        return gx, gw


def linear(x, w, b=None):
    if x.dtype != torch.float32:
        y = torch.nn.functional.linear(x, w)
    else:
        y = _Linear.apply(x, w)
    return y if b is None else y + b


class _BMM(torch.autograd.Function):
    """a [S, N, K] @ b [S, K, M] -> [S, N, M], one oneDNN call per slice."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        bt = b.transpose(1, 2)
        return torch.stack([_mm_nt(a[i], bt[i]) for i in range(a.shape[0])])

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:  # g [S,N,M] @ b^T [S,M,K]
            ga = torch.stack([_mm_nt(g[i], b[i]) for i in range(a.shape[0])])
        if ctx.needs_input_grad[1]:  # a^T [S,K,N] @ g [S,N,M]
            gt = g.transpose(1, 2)
            at = a.transpose(1, 2)
            gb = torch.stack([_mm_nt(at[i], gt[i]) for i in range(a.shape[0])])
        return ga, gb


def bmm(a, b):
    """Batched a @ b over leading dims."""
    lead = a.shape[:-2]
    a3 = a.reshape(-1, a.shape[-2], a.shape[-1])
    b3 = b.reshape(-1, b.shape[-2], b.shape[-1])
    y = _BMM.apply(a3, b3)
    return y.view(*lead, a.shape[-2], b.shape[-1])
