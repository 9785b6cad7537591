/* ops_sel.c - builders and shape functions of writes into states (cpy, set_rows),
 * attention, the selection producers and the selection consumers.
 *
 * Source slots:
 *   cpy(src, dst)            src[0] = src, src[1] = dst
 *   set_rows(dst, src, idx)  src[0] = dst, src[1] = src, src[2] = idx
 *   attn                     the SKIM_ATTN_* slots; params.attn.scale is resolved (never 0)
 *   head_gate(scores)        src[0] = scores
 *   token_halt(p, prev)      src[0] = p, src[1] = prev (may be NULL)
 *   select_topk(scores)      src[0] = scores
 *   get_rows_sel(x, sel), scatter_add_sel(x, y, sel), mul_mat_sel(_k)(w, x, sel): in
 *   argument order.
 * A write node (cpy, set_rows) stands for its state after the write: view_src = the
 * state, view_offs and nb = those of dst, writes = the state; it has no arena memory. */
#include "skim-graph-int.h"

#include <math.h>
#include <string.h>

static void node_init(skim_tensor *node, skim_op op) {
    memset(node, 0, sizeof *node);
    node->op = op;
}

static bool ctx_ok(skim_context *ctx) {
    return ctx && ctx->status == SKIM_OK;
}

/* ---------------------------------------------------------------- writes */

static skim_status write_target(skim_context *ctx, skim_tensor *node, const skim_tensor *dst) {
    char nm[SKIM_TNAME_LEN];
    const char *op = skim_op_name(node->op);
    if (!skim_core_state_version(dst)) {
        skim_ctx_fail(ctx, SKIM_ERR_STATE, "%s: dst %s is not a state, a view of one or the "
                      "result of an earlier write to one", op, skim_core_tname(dst, nm));
        return ctx->status;
    }
    if (dst->type != SKIM_TYPE_F32 && dst->type != SKIM_TYPE_F16) {
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "%s: dst %s is %s, F32 or F16 is required", op,
                      skim_core_tname(dst, nm), skim_type_name(dst->type));
        return ctx->status;
    }
    node->type = dst->type;
    node->n_dims = dst->n_dims;
    memcpy(node->ne, dst->ne, sizeof node->ne);
    memcpy(node->nb, dst->nb, sizeof node->nb);
    node->view_src = skim_tensor_base(dst);
    node->view_offs = dst->view_offs;
    node->writes = node->view_src;
    node->bound = NULL;
    return SKIM_OK;
}

skim_status skim_shape_cpy(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *src = node->src[0], *dst = node->src[1];
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN];
    if (src->type != SKIM_TYPE_F32 && src->type != SKIM_TYPE_F16) {
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "cpy: src %s is %s, F32 or F16 is required",
                      skim_core_tname(src, n1), skim_type_name(src->type));
        return ctx->status;
    }
    if (skim_tensor_nelements(src) != skim_tensor_nelements(dst)) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "cpy: src %s has %lld elements, dst %s %lld",
                      skim_core_tname(src, n1), (long long)skim_tensor_nelements(src),
                      skim_core_tname(dst, n2), (long long)skim_tensor_nelements(dst));
        return ctx->status;
    }
    if (src->bound) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "cpy: src %s is bounded by a selection (use "
                      "set_rows with the selected positions)", skim_core_tname(src, n1));
        return ctx->status;
    }
    return write_target(ctx, node, dst);
}

skim_status skim_shape_set_rows(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *dst = node->src[0], *src = node->src[1], *idx = node->src[2];
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN], s1[SKIM_NE_LEN], s2[SKIM_NE_LEN];
    if (!skim_op_check_f32(ctx, node, "src", src) || !skim_op_check_rows(ctx, node, "src", src) ||
        !skim_op_check_rows(ctx, node, "dst", dst)) {
        return ctx->status;
    }
    if (idx->type != SKIM_TYPE_I32) {
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "set_rows: idx %s must be I32", skim_core_tname(idx, n1));
        return ctx->status;
    }
    if (src->ne[0] != dst->ne[0] || src->ne[2] != 1 || src->ne[3] != 1 || dst->ne[2] != 1 ||
        dst->ne[3] != 1) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "set_rows: src %s %s does not fit dst %s %s (2-D, "
                      "same row length)", skim_core_tname(src, n1), skim_core_fmt_ne(src, s1),
                      skim_core_tname(dst, n2), skim_core_fmt_ne(dst, s2));
        return ctx->status;
    }
    if (!skim_op_check_vector(ctx, node, "idx", idx, src->ne[1]) ||
        !skim_op_same_bound(ctx, node, "src", src, "idx", idx)) {
        return ctx->status;
    }
    if (src->bound && src->n_dims != 2) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "set_rows: bounded src %s must be 2-D",
                      skim_core_tname(src, n1));
        return ctx->status;
    }
    return write_target(ctx, node, dst);
}

skim_tensor *skim_cpy(skim_context *ctx, skim_tensor *src, skim_tensor *dst) {
    if (!ctx_ok(ctx) || !skim_op_need(ctx, SKIM_OP_CPY, "src", src) ||
        !skim_op_need(ctx, SKIM_OP_CPY, "dst", dst)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, SKIM_OP_CPY);
    node.src[0] = src;
    node.src[1] = dst;
    return skim_op_build(ctx, &node);
}

skim_tensor *skim_set_rows(skim_context *ctx, skim_tensor *dst, skim_tensor *src, skim_tensor *idx) {
    if (!ctx_ok(ctx) || !skim_op_need(ctx, SKIM_OP_SET_ROWS, "dst", dst) ||
        !skim_op_need(ctx, SKIM_OP_SET_ROWS, "src", src) ||
        !skim_op_need(ctx, SKIM_OP_SET_ROWS, "idx", idx)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, SKIM_OP_SET_ROWS);
    node.src[0] = dst;
    node.src[1] = src;
    node.src[2] = idx;
    return skim_op_build(ctx, &node);
}

/* ---------------------------------------------------------------- attention */

static skim_status attn_types(skim_context *ctx, skim_tensor *node) {
    skim_tensor *const *s = node->src;
    char nm[SKIM_TNAME_LEN];
    if (!skim_op_check_f32(ctx, node, "q", s[SKIM_ATTN_Q]) ||
        !skim_op_check_rows(ctx, node, "q", s[SKIM_ATTN_Q]) ||
        !skim_op_check_rows(ctx, node, "k", s[SKIM_ATTN_K]) ||
        !skim_op_check_rows(ctx, node, "v", s[SKIM_ATTN_V])) {
        return ctx->status;
    }
    for (int i = SKIM_ATTN_K; i <= SKIM_ATTN_V; i++) {
        if (s[i]->type != SKIM_TYPE_F32 && s[i]->type != SKIM_TYPE_F16) {
            skim_ctx_fail(ctx, SKIM_ERR_TYPE, "attn: %s %s is %s, F32 or F16 is required",
                          i == SKIM_ATTN_K ? "k" : "v", skim_core_tname(s[i], nm),
                          skim_type_name(s[i]->type));
            return ctx->status;
        }
    }
    const char *pn[2] = {"q_pos", "k_pos"};
    for (int i = 0; i < 2; i++) {
        const skim_tensor *p = s[SKIM_ATTN_QPOS + i];
        if (p && p->type != SKIM_TYPE_I32) {
            skim_ctx_fail(ctx, SKIM_ERR_TYPE, "attn: %s %s must be I32", pn[i],
                          skim_core_tname(p, nm));
            return ctx->status;
        }
    }
    if (s[SKIM_ATTN_KMASK] && !skim_op_check_f32(ctx, node, "kmask", s[SKIM_ATTN_KMASK])) {
        return ctx->status;
    }
    return SKIM_OK;
}

static skim_status attn_shapes(skim_context *ctx, skim_tensor *node) {
    skim_tensor *const *s = node->src;
    const skim_tensor *q = s[SKIM_ATTN_Q], *k = s[SKIM_ATTN_K], *v = s[SKIM_ATTN_V];
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN], s1[SKIM_NE_LEN], s2[SKIM_NE_LEN];
    if (q->ne[3] != 1 || k->ne[3] != 1 || memcmp(k->ne, v->ne, sizeof k->ne) != 0 ||
        k->ne[0] != q->ne[0]) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "attn: q %s %s and k %s %s (v alike) do not fit "
                      "[head_dim, heads, tokens]", skim_core_tname(q, n1), skim_core_fmt_ne(q, s1),
                      skim_core_tname(k, n2), skim_core_fmt_ne(k, s2));
        return ctx->status;
    }
    if (q->ne[1] % k->ne[1] != 0) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "attn: %lld KV heads of k %s do not divide %lld heads",
                      (long long)k->ne[1], skim_core_tname(k, n2), (long long)q->ne[1]);
        return ctx->status;
    }
    if (!skim_op_check_vector(ctx, node, "q_pos", s[SKIM_ATTN_QPOS], q->ne[2]) ||
        (s[SKIM_ATTN_KPOS] && !skim_op_check_vector(ctx, node, "k_pos", s[SKIM_ATTN_KPOS], k->ne[2])) ||
        (s[SKIM_ATTN_KMASK] &&
         !skim_op_check_vector(ctx, node, "kmask", s[SKIM_ATTN_KMASK], k->ne[2]))) {
        return ctx->status;
    }
    return SKIM_OK;
}

static skim_status attn_bounds(skim_context *ctx, skim_tensor *node) {
    skim_tensor *const *s = node->src;
    const skim_tensor *q = s[SKIM_ATTN_Q], *k = s[SKIM_ATTN_K];
    char nm[SKIM_TNAME_LEN];
    if (!skim_op_same_bound(ctx, node, "q", q, "q_pos", s[SKIM_ATTN_QPOS]) ||
        !skim_op_same_bound(ctx, node, "k", k, "v", s[SKIM_ATTN_V])) {
        return ctx->status;
    }
    if ((q->bound && q->n_dims != 3) || (k->bound && k->n_dims != 3)) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "attn: a bounded q or k must be 3-D (tokens "
                      "outermost)");
        return ctx->status;
    }
    if (k->bound && !s[SKIM_ATTN_KPOS]) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "attn: k %s is bounded by a selection, so k_pos "
                      "(bounded alike) is required", skim_core_tname(k, nm));
        return ctx->status;
    }
    if (s[SKIM_ATTN_KPOS] && !skim_op_same_bound(ctx, node, "k", k, "k_pos", s[SKIM_ATTN_KPOS])) {
        return ctx->status;
    }
    if (s[SKIM_ATTN_KMASK] && s[SKIM_ATTN_KMASK]->bound) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "attn: kmask %s must be unbounded",
                      skim_core_tname(s[SKIM_ATTN_KMASK], nm));
        return ctx->status;
    }
    const skim_tensor *h = s[SKIM_ATTN_HEADS];
    if (h) {
        bool ok = h->sel_kind == SKIM_SEL_HEAD_TOKENS
            ? skim_op_check_sel(ctx, node, "heads", h, SKIM_SEL_HEAD_TOKENS, q->ne[1], q->ne[2])
            : skim_op_check_sel(ctx, node, "heads", h, SKIM_SEL_HEADS, 1, q->ne[1]);
        if (!ok) {
            return ctx->status;
        }
    }
    return SKIM_OK;
}

skim_status skim_shape_attn(skim_context *ctx, skim_tensor *node) {
    if (attn_types(ctx, node) != SKIM_OK || attn_shapes(ctx, node) != SKIM_OK ||
        attn_bounds(ctx, node) != SKIM_OK) {
        return ctx->status;
    }
    const skim_tensor *q = node->src[SKIM_ATTN_Q];
    float sc = node->params.attn.scale;
    if (!isfinite(sc)) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "attn: scale is not finite");
        return ctx->status;
    }
    if (sc == 0.0f) {
        node->params.attn.scale = 1.0f / sqrtf((float)q->ne[0]);
    }
    node->type = SKIM_TYPE_F32;
    node->n_dims = 3;
    node->ne[0] = q->ne[0];
    node->ne[1] = q->ne[1];
    node->ne[2] = q->ne[2];
    node->ne[3] = 1;
    node->bound = q->bound;
    return SKIM_OK;
}

skim_tensor *skim_attn(skim_context *ctx, const skim_attn_desc *desc) {
    if (!ctx_ok(ctx)) {
        return NULL;
    }
    if (!desc) {
        return skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "attn: desc is NULL");
    }
    if (!skim_op_need(ctx, SKIM_OP_ATTN, "q", desc->q) ||
        !skim_op_need(ctx, SKIM_OP_ATTN, "k", desc->k) ||
        !skim_op_need(ctx, SKIM_OP_ATTN, "v", desc->v) ||
        !skim_op_need(ctx, SKIM_OP_ATTN, "q_pos", desc->q_pos)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, SKIM_OP_ATTN);
    node.src[SKIM_ATTN_Q] = desc->q;
    node.src[SKIM_ATTN_K] = desc->k;
    node.src[SKIM_ATTN_V] = desc->v;
    node.src[SKIM_ATTN_QPOS] = desc->q_pos;
    node.src[SKIM_ATTN_KPOS] = desc->k_pos;
    node.src[SKIM_ATTN_NKV] = desc->n_kv;
    node.src[SKIM_ATTN_KMASK] = desc->kmask;
    node.src[SKIM_ATTN_HEADS] = desc->heads;
    node.params.attn.scale = desc->scale;
    return skim_op_build(ctx, &node);
}

/* ---------------------------------------------------------------- producers */

static bool tau_ok(skim_context *ctx, const skim_tensor *node) {
    if (isnan(node->params.gate.tau)) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: tau is NaN", skim_op_name(node->op));
        return false;
    }
    return true;
}

skim_status skim_shape_head_gate(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *sc = node->src[0];
    char nm[SKIM_TNAME_LEN], sh[SKIM_NE_LEN];
    if (!tau_ok(ctx, node) || !skim_op_check_f32(ctx, node, "scores", sc) ||
        !skim_op_check_contig(ctx, node, "scores", sc)) {
        return ctx->status;
    }
    if (sc->ne[2] != 1 || sc->ne[3] != 1) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "head_gate: scores %s is %s; [n_head] or [n_head, "
                      "n_tok] is required", skim_core_tname(sc, nm), skim_core_fmt_ne(sc, sh));
        return ctx->status;
    }
    if (sc->n_dims == 1) {
        if (sc->bound) {
            skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "head_gate: scores %s [n_head] is bounded "
                          "along its heads", skim_core_tname(sc, nm));
            return ctx->status;
        }
        skim_op_make_sel(node, SKIM_SEL_HEADS, 1, sc->ne[0]);
    } else {
        /* Bounded scores: token indices are rows of the compact tensor. */
        skim_op_make_sel(node, SKIM_SEL_HEAD_TOKENS, sc->ne[0], sc->ne[1]);
    }
    return SKIM_OK;
}

skim_status skim_shape_token_halt(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *p = node->src[0], *prev = node->src[1];
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN], sh[SKIM_NE_LEN];
    if (!tau_ok(ctx, node) || !skim_op_check_f32(ctx, node, "p_halt", p) ||
        !skim_op_check_contig(ctx, node, "p_halt", p)) {
        return ctx->status;
    }
    int64_t n = skim_tensor_outer(p);
    if (skim_tensor_nelements(p) != n) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "token_halt: p_halt %s is %s; its entries must run "
                      "along its outermost dimension", skim_core_tname(p, n1),
                      skim_core_fmt_ne(p, sh));
        return ctx->status;
    }
    if (prev && !skim_op_check_sel(ctx, node, "prev", prev, SKIM_SEL_TOKENS, 1, n)) {
        return ctx->status;
    }
    if (p->bound && p->bound != prev) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "token_halt: p_halt %s is bounded by %s, which is "
                      "not prev", skim_core_tname(p, n1), skim_core_tname(p->bound, n2));
        return ctx->status;
    }
    skim_op_make_sel(node, SKIM_SEL_TOKENS, 1, n);
    return SKIM_OK;
}

skim_status skim_shape_select_topk(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *sc = node->src[0];
    char nm[SKIM_TNAME_LEN];
    if (!skim_op_check_f32(ctx, node, "scores", sc) ||
        !skim_op_check_vector(ctx, node, "scores", sc, sc->ne[0])) {
        return ctx->status;
    }
    if (sc->bound) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "select_topk: scores %s must be unbounded",
                      skim_core_tname(sc, nm));
        return ctx->status;
    }
    int32_t k = node->params.topk.k;
    if (k < 1 || k > sc->ne[0]) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "select_topk: k = %d not in 1..%lld", (int)k,
                      (long long)sc->ne[0]);
        return ctx->status;
    }
    skim_op_make_sel(node, SKIM_SEL_TOKENS, 1, sc->ne[0]);
    return SKIM_OK;
}

skim_tensor *skim_head_gate(skim_context *ctx, skim_tensor *scores, float tau) {
    if (!ctx_ok(ctx) || !skim_op_need(ctx, SKIM_OP_HEAD_GATE, "scores", scores)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, SKIM_OP_HEAD_GATE);
    node.src[0] = scores;
    node.params.gate.tau = tau;
    return skim_op_build(ctx, &node);
}

skim_tensor *skim_token_halt(skim_context *ctx, skim_tensor *p_halt, float tau, skim_tensor *prev) {
    if (!ctx_ok(ctx) || !skim_op_need(ctx, SKIM_OP_TOKEN_HALT, "p_halt", p_halt)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, SKIM_OP_TOKEN_HALT);
    node.src[0] = p_halt;
    node.src[1] = prev;
    node.params.gate.tau = tau;
    return skim_op_build(ctx, &node);
}

skim_tensor *skim_select_topk(skim_context *ctx, skim_tensor *scores, int k) {
    if (!ctx_ok(ctx) || !skim_op_need(ctx, SKIM_OP_SELECT_TOPK, "scores", scores)) {
        return NULL;
    }
    skim_tensor node;
    node_init(&node, SKIM_OP_SELECT_TOPK);
    node.src[0] = scores;
    node.params.topk.k = k;
    return skim_op_build(ctx, &node);
}
