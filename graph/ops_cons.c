/* ops_cons.c - the selection consumers: get_rows_sel, scatter_add_sel, mul_mat_sel,
 * mul_mat_sel_k. Their data inputs must be contiguous. */
#include "skim-graph-int.h"

#include <string.h>

static const char *const tok = "a TOKENS selection";

skim_status skim_shape_get_rows_sel(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *x = node->src[0], *sel = node->src[1];
    char nm[SKIM_TNAME_LEN];
    if (x->type != SKIM_TYPE_F32 && x->type != SKIM_TYPE_I32) {
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "get_rows_sel: x %s is %s, F32 or I32 is required",
                      skim_core_tname(x, nm), skim_type_name(x->type));
        return ctx->status;
    }
    if (!skim_op_check_contig(ctx, node, "x", x)) {
        return ctx->status;
    }
    if (x->bound) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "get_rows_sel: x %s is already bounded by a "
                      "selection", skim_core_tname(x, nm));
        return ctx->status;
    }
    if (!skim_op_check_sel(ctx, node, "sel", sel, SKIM_SEL_TOKENS, 1, skim_tensor_outer(x))) {
        return ctx->status;
    }
    node->type = x->type;
    node->n_dims = x->n_dims;
    memcpy(node->ne, x->ne, sizeof node->ne);
    node->bound = (skim_tensor *)sel;
    return SKIM_OK;
}

skim_status skim_shape_scatter_add_sel(skim_context *ctx, skim_tensor *node) {
    const skim_tensor *x = node->src[0], *y = node->src[1], *sel = node->src[2];
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN], s1[SKIM_NE_LEN], s2[SKIM_NE_LEN];
    if (!skim_op_check_f32(ctx, node, "x", x) || !skim_op_check_f32(ctx, node, "y", y) ||
        !skim_op_check_contig(ctx, node, "x", x) || !skim_op_check_contig(ctx, node, "y", y)) {
        return ctx->status;
    }
    if (memcmp(x->ne, y->ne, sizeof x->ne) != 0) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "scatter_add_sel: x %s %s and y %s %s differ in shape",
                      skim_core_tname(x, n1), skim_core_fmt_ne(x, s1), skim_core_tname(y, n2),
                      skim_core_fmt_ne(y, s2));
        return ctx->status;
    }
    if (!skim_op_check_sel(ctx, node, "sel", sel, SKIM_SEL_TOKENS, 1, skim_tensor_outer(x))) {
        return ctx->status;
    }
    if (x->bound || y->bound != sel || y->n_dims != x->n_dims) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "scatter_add_sel: x %s must be unbounded and y %s "
                      "bounded by sel (%s)", skim_core_tname(x, n1), skim_core_tname(y, n2), tok);
        return ctx->status;
    }
    node->type = SKIM_TYPE_F32;
    node->n_dims = x->n_dims;
    memcpy(node->ne, x->ne, sizeof node->ne);
    node->bound = NULL;
    return SKIM_OK;
}

/* Common checks of mul_mat_sel / mul_mat_sel_k; `blocked` is the w dimension split into
 * n_head blocks (1: rows M, 0: columns K). */
static skim_status shape_mul_mat_sel(skim_context *ctx, skim_tensor *node, int blocked) {
    const skim_tensor *w = node->src[0], *x = node->src[1], *sel = node->src[2];
    const char *op = skim_op_name(node->op);
    char n1[SKIM_TNAME_LEN], n2[SKIM_TNAME_LEN], s1[SKIM_NE_LEN], s2[SKIM_NE_LEN];
    if (w->type == SKIM_TYPE_I32) {
        skim_ctx_fail(ctx, SKIM_ERR_TYPE, "%s: w %s is I32", op, skim_core_tname(w, n1));
        return ctx->status;
    }
    if (!skim_op_check_f32(ctx, node, "x", x) || !skim_op_check_contig(ctx, node, "w", w) ||
        !skim_op_check_contig(ctx, node, "x", x)) {
        return ctx->status;
    }
    int32_t block = node->params.block.block;
    if (block < 1) {
        skim_ctx_fail(ctx, SKIM_ERR_INVALID_ARG, "%s: block %d is not >= 1", op, (int)block);
        return ctx->status;
    }
    if (w->ne[0] != x->ne[0] || w->ne[2] != 1 || w->ne[3] != 1 || x->ne[2] != 1 ||
        x->ne[3] != 1 || w->ne[blocked] % block != 0) {
        skim_ctx_fail(ctx, SKIM_ERR_SHAPE, "%s: w %s %s and x %s %s do not fit (2-D, same K, "
                      "%s a multiple of block %d)", op, skim_core_tname(w, n1),
                      skim_core_fmt_ne(w, s1), skim_core_tname(x, n2), skim_core_fmt_ne(x, s2),
                      blocked ? "M" : "K", (int)block);
        return ctx->status;
    }
    if (w->bound || (x->bound && x->n_dims != 2)) {
        skim_ctx_fail(ctx, SKIM_ERR_SELECTION, "%s: w %s must be unbounded and x %s bounded only "
                      "along its rows", op, skim_core_tname(w, n1), skim_core_tname(x, n2));
        return ctx->status;
    }
    int64_t n_head = w->ne[blocked] / block;
    bool ok = sel->sel_kind == SKIM_SEL_HEAD_TOKENS
        ? skim_op_check_sel(ctx, node, "sel", sel, SKIM_SEL_HEAD_TOKENS, n_head, x->ne[1])
        : skim_op_check_sel(ctx, node, "sel", sel, SKIM_SEL_HEADS, 1, n_head);
    if (!ok) {
        return ctx->status;
    }
    node->type = SKIM_TYPE_F32;
    node->n_dims = x->n_dims;
    node->ne[0] = w->ne[1];
    node->ne[1] = x->ne[1];
    node->ne[2] = node->ne[3] = 1; /* x is 2-D at most (checked above), whatever its n_dims */
    node->bound = x->bound;
    return SKIM_OK;
}

skim_status skim_shape_mul_mat_sel(skim_context *ctx, skim_tensor *node) {
    return shape_mul_mat_sel(ctx, node, 1);
}

skim_status skim_shape_mul_mat_sel_k(skim_context *ctx, skim_tensor *node) {
    return shape_mul_mat_sel(ctx, node, 0);
}

/* ---------------------------------------------------------------- builders */

static skim_tensor *build_sel(skim_context *ctx, skim_op op, const char *const names[3],
                              skim_tensor *a, skim_tensor *b, skim_tensor *c, int32_t block) {
    if (!ctx || ctx->status != SKIM_OK) {
        return NULL;
    }
    skim_tensor *args[3] = {a, b, c};
    for (int i = 0; i < 3 && names[i]; i++) {
        if (!skim_op_need(ctx, op, names[i], args[i])) {
            return NULL;
        }
    }
    skim_tensor node;
    memset(&node, 0, sizeof node);
    node.op = op;
    node.src[0] = a;
    node.src[1] = b;
    node.src[2] = c;
    node.params.block.block = block;
    return skim_op_build(ctx, &node);
}

skim_tensor *skim_get_rows_sel(skim_context *ctx, skim_tensor *x, skim_tensor *sel) {
    static const char *const names[3] = {"x", "sel", NULL};
    return build_sel(ctx, SKIM_OP_GET_ROWS_SEL, names, x, sel, NULL, 0);
}

skim_tensor *skim_scatter_add_sel(skim_context *ctx, skim_tensor *x, skim_tensor *y,
                                  skim_tensor *sel) {
    static const char *const names[3] = {"x", "y", "sel"};
    return build_sel(ctx, SKIM_OP_SCATTER_ADD_SEL, names, x, y, sel, 0);
}

skim_tensor *skim_mul_mat_sel(skim_context *ctx, skim_tensor *w, skim_tensor *x, skim_tensor *sel,
                              int block) {
    static const char *const names[3] = {"w", "x", "sel"};
    return build_sel(ctx, SKIM_OP_MUL_MAT_SEL, names, w, x, sel, block);
}

skim_tensor *skim_mul_mat_sel_k(skim_context *ctx, skim_tensor *w, skim_tensor *x,
                                skim_tensor *sel, int block) {
    static const char *const names[3] = {"w", "x", "sel"};
    return build_sel(ctx, SKIM_OP_MUL_MAT_SEL_K, names, w, x, sel, block);
}
