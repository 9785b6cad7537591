/* ops_mix.c - the sequence mixers: causal_conv (a depthwise convolution along tokens)
 * and linear_rec (a diagonal gated linear recurrence). A mixer runs over every token of a 2-D [channels, tokens] input, so a tensor bounded
 * by a selection is refused: a halted token would leave a hole in the sequence. The state of a decode loop is a source (read) and a
 * part of the output (written back with cpy by the caller), so graph/ needs no op with
 * two results. */
#include "skim-graph-int.h"

#include <string.h>

/* An F32 [C, T] data input: rows contiguous, two dimensions, not bounded. */
static bool seq_input(skim_context *ctx, const skim_tensor *node, const char *arg,
                      const skim_tensor *t) {
    char nm[SKIM_TNAME_LEN], sh[SKIM_NE_LEN];
    if (!skim_op_check_f32(ctx, node, arg, t) || !skim_op_check_rows(ctx, node, arg, t)) {
        return false;
    }
    if (t->ne[2] != 1 || t->ne[3] != 1) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: %s %s is %s, [channels, tokens] is required",
                      skim_op_name(node->op), arg, skim_core_tname(t, nm), skim_core_fmt_ne(t, sh));
        return false;
    }
    if (t->bound) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "%s: %s %s is bounded by a selection; the op "
                      "runs over every token", skim_op_name(node->op), arg, skim_core_tname(t, nm));
        return false;
    }
    return true;
}

/* An F32 contiguous unbounded tensor of exactly [ne0, ne1]. */
static bool exact_2d(skim_context *ctx, const skim_tensor *node, const char *arg,
                     const skim_tensor *t, int64_t ne0, int64_t ne1) {
    char nm[SKIM_TNAME_LEN], sh[SKIM_NE_LEN];
    if (!skim_op_check_f32(ctx, node, arg, t) || !skim_op_check_contig(ctx, node, arg, t)) {
        return false;
    }
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1 || t->bound) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: %s %s is %s, unbounded [%lld, %lld] is required",
                      skim_op_name(node->op), arg, skim_core_tname(t, nm), skim_core_fmt_ne(t, sh),
                      (long long)ne0, (long long)ne1);
        return false;
    }
    return true;
}

skim_status skim_shape_causal_conv(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *x = node->src[0], *w = node->src[1], *st = node->src[2];
    char nm[SKIM_TNAME_LEN];
    if (!seq_input(ctx, node, "x", x)) {
        return ctx->status;
    }
    int64_t c = x->ne[0], k = w->ne[0];
    if (!exact_2d(ctx, node, "w", w, k, c)) {
        return ctx->status;
    }
    if (k == 1 && st) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "causal_conv: a kernel of width 1 keeps no state; "
                      "state %s must be NULL", skim_core_tname(st, nm));
        return ctx->status;
    }
    if (st && !exact_2d(ctx, node, "state", st, c, k - 1)) {
        return ctx->status;
    }
    node->type = SKIM_TYPE_F32;
    node->n_dims = 2;
    node->ne[0] = c;
    node->ne[1] = x->ne[1] + k - 1;
    node->ne[2] = node->ne[3] = 1;
    return SKIM_OK;
}

skim_status skim_shape_linear_rec(skim_context *ctx, skim_tensor *node) {
    static const char *const names[3] = {"x", "a", "b"};
    const skim_tensor *x = node->src[0], *h = node->src[3];
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN], s1[SKIM_NE_LEN], s2[SKIM_NE_LEN];
    for (int i = 0; i < 3; i++) {
        const skim_tensor *t = node->src[i];
        if (!seq_input(ctx, node, names[i], t)) {
            return ctx->status;
        }
        if (t->ne[0] != x->ne[0] || t->ne[1] != x->ne[1]) {
            skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "linear_rec: %s %s is %s but x %s is %s", names[i],
                          skim_core_tname(t, n1), skim_core_fmt_ne(t, s1), skim_core_tname(x, n2),
                          skim_core_fmt_ne(x, s2));
            return ctx->status;
        }
    }
    if (h && !exact_2d(ctx, node, "h", h, x->ne[0], 1)) {
        return ctx->status;
    }
    node->type = SKIM_TYPE_F32;
    node->n_dims = 2;
    node->ne[0] = x->ne[0];
    node->ne[1] = x->ne[1];
    node->ne[2] = node->ne[3] = 1;
    return SKIM_OK;
}

/* ---------------------------------------------------------------- builders */

static skim_tensor *build(skim_context *ctx, skim_op op, skim_tensor *const *src,
                          const char *const *names, int n_required, int n) {
    if (!ctx || ctx->status != SKIM_OK) {
        return NULL;
    }
    for (int i = 0; i < n_required; i++) {
        if (!skim_op_need(ctx, op, names[i], src[i])) {
            return NULL;
        }
    }
    skim_tensor node;
    memset(&node, 0, sizeof node);
    node.op = op;
    memcpy(node.src, src, (size_t)n * sizeof *src);
    return skim_op_build(ctx, &node);
}

skim_tensor *skim_causal_conv(skim_context *ctx, skim_tensor *x, skim_tensor *w,
                              skim_tensor *state) {
    static const char *const names[] = {"x", "w"};
    skim_tensor *src[3] = {x, w, state};
    return build(ctx, SKIM_OP_CAUSAL_CONV, src, names, 2, 3);
}

skim_tensor *skim_linear_rec(skim_context *ctx, skim_tensor *x, skim_tensor *a, skim_tensor *b,
                             skim_tensor *h) {
    static const char *const names[] = {"x", "a", "b"};
    skim_tensor *src[4] = {x, a, b, h};
    return build(ctx, SKIM_OP_LINEAR_REC, src, names, 3, 4);
}
